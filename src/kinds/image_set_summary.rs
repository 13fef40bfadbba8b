//! `summary.image_set`: counts per class of an image set, as a metrics artifact.

use std::collections::BTreeMap;

use augflow_stages::image_set::ImageSetManifest;
use serde::Deserialize;

use super::{
    ArtifactType, KindContext, KindError, KindOutcome, Port, StageKind, port_dir, typed_params,
};
use crate::spec::Value;

pub struct ImageSetSummary;

/// No options yet; an empty config still rejects unknown params.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryConfig {}

const INPUTS: &[Port] = &[Port {
    name: "images",
    ty: ArtifactType::ImageSet,
}];
const OUTPUTS: &[Port] = &[Port {
    name: "metrics",
    ty: ArtifactType::Metrics,
}];

impl StageKind for ImageSetSummary {
    fn name(&self) -> &'static str {
        "summary.image_set"
    }

    fn version(&self) -> u32 {
        1
    }

    fn inputs(&self) -> &'static [Port] {
        INPUTS
    }

    fn outputs(&self) -> &'static [Port] {
        OUTPUTS
    }

    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
        typed_params::<SummaryConfig>(params).map(|_| ())
    }

    fn run(&self, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
        let manifest = ImageSetManifest::read(port_dir(&ctx.inputs, "images")?)?;
        let metrics = serde_json::json!({
            "images": manifest.images.len(),
            "classes": manifest.counts_per_class(),
            "patients": manifest.images.iter().map(|i| &i.patient_id).collect::<std::collections::BTreeSet<_>>().len(),
            "width": manifest.width,
            "height": manifest.height,
        });
        let dir = port_dir(&ctx.outputs, "metrics")?;
        crate::fsutil::write_json_atomic(&dir.join("metrics.json"), &metrics).map_err(
            |source| augflow_stages::StageError::Write {
                path: dir.join("metrics.json"),
                source,
            },
        )?;
        Ok(KindOutcome::default())
    }
}
