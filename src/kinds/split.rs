//! `split.patient`: an image set → train / val / test image sets, grouped by patient and
//! stratified by class, plus a report of the counts. Test images are never used for
//! selection downstream: only `train` and `val` feed training.

use std::collections::BTreeMap;

use augflow_stages::split::{SplitConfig, split_patient};

use super::{
    ArtifactType, KindContext, KindError, KindOutcome, LegacyKind, Port, port_dir, typed_params,
};
use crate::spec::Value;

pub struct PatientSplit;

const INPUTS: &[Port] = &[Port {
    name: "images",
    ty: ArtifactType::ImageSet,
}];
const OUTPUTS: &[Port] = &[
    Port {
        name: "train",
        ty: ArtifactType::ImageSet,
    },
    Port {
        name: "val",
        ty: ArtifactType::ImageSet,
    },
    Port {
        name: "test",
        ty: ArtifactType::ImageSet,
    },
    Port {
        name: "report",
        ty: ArtifactType::Metrics,
    },
];

impl LegacyKind for PatientSplit {
    fn name(&self) -> &'static str {
        "split.patient"
    }

    fn version(&self) -> u32 {
        augflow_stages::SPLIT_VERSION
    }

    fn inputs(&self) -> &'static [Port] {
        INPUTS
    }

    fn outputs(&self) -> &'static [Port] {
        OUTPUTS
    }

    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
        let config: SplitConfig = typed_params(params)?;
        config.validate().map_err(|err| err.to_string())
    }

    fn run(
        &self,
        params: &BTreeMap<String, Value>,
        ctx: &KindContext<'_>,
    ) -> Result<KindOutcome, KindError> {
        let config: SplitConfig = typed_params(params).map_err(KindError::Params)?;
        let report = split_patient(
            port_dir(&ctx.inputs, "images")?,
            &config,
            ctx.seed,
            port_dir(&ctx.outputs, "train")?,
            port_dir(&ctx.outputs, "val")?,
            port_dir(&ctx.outputs, "test")?,
        )?;
        let path = port_dir(&ctx.outputs, "report")?.join("metrics.json");
        crate::fsutil::write_json_atomic(&path, &report)
            .map_err(|source| augflow_stages::StageError::Write { path, source })?;
        Ok(KindOutcome::default())
    }
}
