//! The synthetic-data kinds: `train.ddpm` and `train.gan` (train image set → generator),
//! `sample` (generator → N images per class), `augment.merge` (real + synthetic →
//! training set) and `score.quality` (real + synthetic + feature model → quality metrics).

use std::collections::BTreeMap;
use std::path::PathBuf;

use augflow_stages::generators::{
    self, DdpmConfig, DdpmProgress, GanConfig, GanProgress, GeneratorFamily, SampleConfig,
    SampleProgress, sample_generator_with_base,
};
use augflow_stages::synthetic::{self, FeatureSpace, MergeConfig, QualityConfig, merge_image_sets};

use super::ml::{device_for, device_outcome, reports_step, stage_error, write_json};
use super::{
    ArtifactType, KindContext, KindError, KindOutcome, KindSpec, Port, Progress, path_param, port,
    port_dir,
};
use crate::spec::Value;

const TRAIN_INPUTS: &[Port] = &[port("train", ArtifactType::ImageSet)];
const GENERATOR_OUTPUT: &[Port] = &[port("generator", ArtifactType::Generator)];

pub const TRAIN_DDPM: KindSpec = KindSpec::new("train.ddpm", augflow_stages::GENERATOR_VERSION)
    .inputs(TRAIN_INPUTS)
    .outputs(GENERATOR_OUTPUT)
    .on_device();

pub const TRAIN_GAN: KindSpec = KindSpec::new("train.gan", augflow_stages::GENERATOR_VERSION)
    .inputs(TRAIN_INPUTS)
    .outputs(GENERATOR_OUTPUT)
    .on_device();

/// `sample` runs the generators' samplers and, for latent generators, the latent ones
/// (prompt, guidance, LoRA scale, decoder): bumping either constant changes its key (the
/// sum only grows). `base`: the base generator of a LoRA generator (which holds adapters
/// only).
pub const SAMPLE: KindSpec = KindSpec::new(
    "sample",
    augflow_stages::GENERATOR_VERSION + augflow_stages::LATENT_VERSION - 1,
)
.inputs(&[
    port("generator", ArtifactType::Generator),
    port("base", ArtifactType::Generator),
])
.outputs(&[port("images", ArtifactType::ImageSet)])
.optional(&["base"])
.on_device();

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

pub fn train_ddpm(config: &DdpmConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let device = device_for(ctx)?;
    let report = |event: DdpmProgress| {
        if let DdpmProgress::Step {
            class,
            class_number,
            classes,
            step,
            steps,
            loss,
        } = event
            && reports_step(step, steps)
        {
            (ctx.progress)(Progress {
                message: format!(
                    "class {class} ({class_number}/{classes}) step {step}/{steps} loss {loss:.4}"
                ),
                fraction: Some(
                    ((class_number - 1) * steps + step) as f64 / (classes * steps) as f64,
                ),
            });
        }
    };
    let file = generators::train_ddpm(
        config,
        ctx.seed,
        port_dir(&ctx.inputs, "train")?,
        port_dir(&ctx.outputs, "generator")?,
        &device,
        &report,
        ctx.cancel,
    )
    .map_err(stage_error)?;
    let mut outcome = device_outcome(&device);
    let chosen: serde_json::Map<String, Value> = file
        .checkpoints
        .iter()
        .map(|c| (c.class.clone(), Value::from(c.step)))
        .collect();
    outcome
        .metadata
        .insert("selected_steps".to_owned(), Value::Object(chosen));
    Ok(outcome)
}

pub fn train_gan(config: &GanConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let device = device_for(ctx)?;
    let report = |event: GanProgress| {
        if let GanProgress::Step {
            step,
            steps,
            loss_g,
            loss_d,
            p,
        } = event
            && reports_step(step, steps)
        {
            (ctx.progress)(Progress {
                message: format!(
                    "step {step}/{steps} loss g {loss_g:.4} d {loss_d:.4} ada p {p:.3}"
                ),
                fraction: Some(step as f64 / steps as f64),
            });
        }
    };
    let file = generators::train_gan(
        config,
        ctx.seed,
        port_dir(&ctx.inputs, "train")?,
        port_dir(&ctx.outputs, "generator")?,
        &device,
        &report,
        ctx.cancel,
    )
    .map_err(stage_error)?;
    let mut outcome = device_outcome(&device);
    // One network for every class: one selected step and its mean score.
    if let Some(chosen) = file.checkpoints.first().filter(|c| !c.scores.is_empty()) {
        outcome
            .metadata
            .insert("selected_step".to_owned(), Value::from(chosen.step));
        outcome
            .metadata
            .insert("selection_kid".to_owned(), Value::from(chosen.score));
    }
    Ok(outcome)
}

/// The generator's family is known from the kind that trains it, so a param that does
/// not apply to it fails before anything runs (the stage checks again at run time).
pub fn sample_fits_generator(
    config: &SampleConfig,
    port: &str,
    producer_kind: &str,
) -> Result<(), (String, String)> {
    let family = match (port, producer_kind) {
        ("generator", "train.gan") => GeneratorFamily::Gan,
        ("generator", "train.ddpm") => GeneratorFamily::Ddpm,
        ("generator", "train.lora") => GeneratorFamily::LatentLora,
        ("generator", "train.sd_lora") => GeneratorFamily::StableDiffusionLora,
        ("generator", "import.stable_diffusion" | "train.sd_finetune" | "train.sd_dreambooth") => {
            GeneratorFamily::StableDiffusion
        }
        ("generator", _) => GeneratorFamily::Latent,
        _ => return Ok(()),
    };
    match config.misapplied(family) {
        Some((param, why)) => Err((param.to_owned(), why)),
        None => Ok(()),
    }
}

pub fn sample(config: &SampleConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let device = device_for(ctx)?;
    let report = |p: SampleProgress| {
        (ctx.progress)(Progress {
            message: format!("{}/{} images", p.done, p.total),
            fraction: Some(p.done as f64 / p.total.max(1) as f64),
        })
    };
    let manifest = sample_generator_with_base(
        port_dir(&ctx.inputs, "generator")?,
        ctx.inputs.get("base").map(|dir| dir.as_path()),
        config,
        ctx.seed,
        port_dir(&ctx.outputs, "images")?,
        &device,
        &report,
        ctx.cancel,
    )
    .map_err(stage_error)?;
    let mut outcome = device_outcome(&device);
    outcome
        .metadata
        .insert("images".to_owned(), Value::from(manifest.images.len()));
    Ok(outcome)
}

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
    if config.inception_weights.is_some() {
        // The params hold the pipeline-relative text; the engine resolved (and hashed) it.
        config.inception_weights = Some(path_param(ctx, "inception_weights")?.clone());
    }
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
