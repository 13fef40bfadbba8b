//! What uses the synthetic images: `augment.merge` (real + synthetic → training set) and
//! `score.quality` (real + synthetic + feature model → quality metrics).

use std::collections::BTreeMap;
use std::path::PathBuf;

use augflow_stages::synthetic::{self, FeatureSpace, MergeConfig, QualityConfig, merge_image_sets};

use super::ml::{device_for, device_outcome, write_json};
use super::{
    ArtifactType, KindContext, KindError, KindOutcome, KindSpec, Progress, port, port_dir,
    resolve_path_param,
};
use crate::spec::Value;

pub const AUGMENT_MERGE: KindSpec = KindSpec::new("augment.merge", 1)
    .inputs(&[
        port("real", ArtifactType::ImageSet),
        port("synthetic", ArtifactType::ImageSet),
    ])
    .outputs(&[port("images", ArtifactType::ImageSet)]);

/// `features` (the domain feature classifier) is needed with `features: domain` only.
pub const SCORE_QUALITY: KindSpec = KindSpec::new("score.quality", synthetic::QUALITY_VERSION)
    .inputs(&[
        port("real", ArtifactType::ImageSet),
        port("synthetic", ArtifactType::ImageSet),
        port("features", ArtifactType::Model),
    ])
    .outputs(&[port("metrics", ArtifactType::Metrics)])
    .optional(&["features"])
    .path_params(&["inception_weights"])
    .on_device();

pub fn augment_merge(
    config: &MergeConfig,
    ctx: &KindContext<'_>,
) -> Result<KindOutcome, KindError> {
    let report = merge_image_sets(
        port_dir(&ctx.inputs, "real")?,
        port_dir(&ctx.inputs, "synthetic")?,
        config,
        port_dir(&ctx.outputs, "images")?,
    )?;
    let mut outcome = KindOutcome::default();
    let to_value = |counts: &BTreeMap<String, usize>| {
        Value::Object(
            counts
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(*v)))
                .collect(),
        )
    };
    outcome
        .metadata
        .insert("real".to_owned(), to_value(&report.real));
    outcome
        .metadata
        .insert("synthetic".to_owned(), to_value(&report.synthetic));
    Ok(outcome)
}

/// `features: domain` needs the `features` input; `features: inception` refuses it.
pub fn quality_inputs(config: &QualityConfig, connected: &[&str]) -> Result<(), String> {
    let has_features = connected.contains(&"features");
    match config.features {
        FeatureSpace::Domain if !has_features => Err(
            "`features: domain` needs input `features` (a classifier trained on the real \
             training set); connect one, or set `features: inception` with \
             `inception_weights`"
                .to_owned(),
        ),
        FeatureSpace::Inception if has_features => {
            Err("`features: inception` does not use input `features`; remove it".to_owned())
        }
        _ => Ok(()),
    }
}

pub fn score_quality(
    config: &QualityConfig,
    ctx: &KindContext<'_>,
) -> Result<KindOutcome, KindError> {
    let mut config = config.clone();
    resolve_path_param(ctx, "inception_weights", &mut config.inception_weights)?;
    let device = device_for(ctx)?;
    (ctx.progress)(Progress {
        message: format!(
            "embedding ({} features) and scoring",
            config.features.as_str()
        ),
        fraction: None,
    });
    let dir = port_dir(&ctx.outputs, "metrics")?;
    let report = synthetic::score_quality(
        port_dir(&ctx.inputs, "real")?,
        port_dir(&ctx.inputs, "synthetic")?,
        ctx.inputs.get("features").map(PathBuf::as_path),
        &config,
        ctx.seed,
        &device,
        dir,
    )?;
    write_json(&dir.join("metrics.json"), &report)?;
    let mut outcome = device_outcome(&device);
    if let Some(fid) = report.mean_class_fid {
        outcome
            .metadata
            .insert("mean_class_fid".to_owned(), Value::from(fid));
    }
    Ok(outcome)
}
