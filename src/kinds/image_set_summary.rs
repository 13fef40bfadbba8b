//! `summary.image_set`: counts per class of an image set, as a metrics artifact.

use augflow_stages::StageConfig;
use augflow_stages::image_set::ImageSetManifest;
use serde::Deserialize;

use super::{ArtifactType, KindContext, KindError, KindOutcome, KindSpec, port, port_dir};

pub const SPEC: KindSpec = KindSpec::new("summary.image_set", 1)
    .inputs(&[port("images", ArtifactType::ImageSet)])
    .outputs(&[port("metrics", ArtifactType::Metrics)]);

/// No options yet; an empty config still rejects unknown params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryConfig {}

impl StageConfig for SummaryConfig {}

pub fn summarise(_: &SummaryConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let manifest = ImageSetManifest::read(port_dir(&ctx.inputs, "images")?)?;
    let metrics = serde_json::json!({
        "images": manifest.images.len(),
        "classes": manifest.counts_per_class(),
        "patients": manifest.images.iter().map(|i| &i.patient_id).collect::<std::collections::BTreeSet<_>>().len(),
        "width": manifest.width,
        "height": manifest.height,
    });
    let dir = port_dir(&ctx.outputs, "metrics")?;
    crate::fsutil::write_json_atomic(&dir.join("metrics.json"), &metrics).map_err(|source| {
        augflow_stages::StageError::Write {
            path: dir.join("metrics.json"),
            source,
        }
    })?;
    Ok(KindOutcome::default())
}
