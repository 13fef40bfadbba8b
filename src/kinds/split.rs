//! `split.patient`: an image set → train / val / test image sets, grouped by patient and
//! stratified by class, plus a report of the counts. Test images are never used for
//! selection downstream: only `train` and `val` feed training.

use augflow_stages::split::{SplitConfig, split_patient};

use super::{ArtifactType, KindContext, KindError, KindOutcome, KindSpec, port, port_dir};

pub const SPEC: KindSpec = KindSpec::new("split.patient", augflow_stages::SPLIT_VERSION)
    .inputs(&[port("images", ArtifactType::ImageSet)])
    .outputs(&[
        port("train", ArtifactType::ImageSet),
        port("val", ArtifactType::ImageSet),
        port("test", ArtifactType::ImageSet),
        port("report", ArtifactType::Metrics),
    ]);

pub fn split(config: &SplitConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let report = split_patient(
        port_dir(&ctx.inputs, "images")?,
        config,
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
