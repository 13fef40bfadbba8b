//! The generator kinds: `train.ddpm` and `train.gan` (train image set → generator) and
//! `sample` (generator → N images per class). What uses the samples, `augment.merge` and
//! `score.quality`, is in `synthetic.rs`.

use augflow_stages::backend::SelectedDevice;
use augflow_stages::generators::{
    self, DdpmConfig, DdpmProgress, GanConfig, GanProgress, GeneratorFamily, GeneratorFile,
    SampleConfig, SampleProgress, TrainFn, TrainInputs, sample_generator_with_base,
};

use super::ml::{device_for, device_outcome, reports_step, stage_error, stage_io};
use super::{
    ArtifactType, KindContext, KindError, KindOutcome, KindSpec, Port, Progress, port, port_dir,
};
use crate::spec::Value;

/// `features`: a classifier trained on real images, whose penultimate layer scores
/// checkpoints when `selection.holdout` is above 0 (optional: pooled pixels without it).
const TRAIN_INPUTS: &[Port] = &[
    port("train", ArtifactType::ImageSet),
    port("features", ArtifactType::Model),
];
const GENERATOR_OUTPUT: &[Port] = &[port("generator", ArtifactType::Generator)];

pub const TRAIN_DDPM: KindSpec = KindSpec::new("train.ddpm", augflow_stages::GENERATOR_VERSION)
    .inputs(TRAIN_INPUTS)
    .outputs(GENERATOR_OUTPUT)
    .optional(&["features"])
    .on_device();

pub const TRAIN_GAN: KindSpec = KindSpec::new("train.gan", augflow_stages::GENERATOR_VERSION)
    .inputs(TRAIN_INPUTS)
    .outputs(GENERATOR_OUTPUT)
    .optional(&["features"])
    .on_device();

/// `sample` runs the generators' samplers, the latent ones (prompt, guidance, LoRA scale,
/// decoder) and Stable Diffusion's: bumping any of the three constants changes its key
/// (the sum only grows; SD's first version adds nothing, so keys stayed as they were).
/// `base`: the base generator of a LoRA generator (which holds adapters only).
pub const SAMPLE: KindSpec = KindSpec::new(
    "sample",
    augflow_stages::GENERATOR_VERSION + augflow_stages::LATENT_VERSION - 1
        + (augflow_stages::SD_VERSION - 1),
)
.inputs(&[
    port("generator", ArtifactType::Generator),
    port("base", ArtifactType::Generator),
])
.outputs(&[port("images", ArtifactType::ImageSet)])
.optional(&["base"])
.on_device();

pub fn train_ddpm(config: &DdpmConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
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
    let (device, file) = run_training(config, ctx, generators::train_ddpm, &report)?;
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
    let (device, file) = run_training(config, ctx, generators::train_gan, &report)?;
    let mut outcome = device_outcome(&device);
    // One network for every class: one selected step and its mean score.
    if let Some(chosen) = file.checkpoints.first().filter(|c| !c.scores.is_empty()) {
        outcome
            .metadata
            .insert("selected_step".to_owned(), Value::from(chosen.step));
        outcome
            .metadata
            .insert("selection_kid".to_owned(), Value::from(chosen.score));
        if let Some((_, spread)) = chosen.spreads.iter().find(|(step, _)| *step == chosen.step) {
            outcome
                .metadata
                .insert("selection_spread".to_owned(), Value::from(*spread));
        }
    }
    Ok(outcome)
}

/// A `features` model scores checkpoints, which only happens with images held out: with
/// `selection.holdout: 0` it would be ignored, so it is an error at the graph check.
pub fn features_need_holdout(holdout: f64, connected: &[&str]) -> Result<(), String> {
    if holdout == 0.0 && connected.contains(&"features") {
        return Err(
            "input `features` scores checkpoints, and `selection.holdout: 0` scores none; \
             set `selection: {holdout: 0.1}` or remove the input"
                .to_owned(),
        );
    }
    Ok(())
}

/// Runs `train` from the stage's `train` images into its `generator` output.
fn run_training<C, P>(
    config: &C,
    ctx: &KindContext<'_>,
    train: TrainFn<C, P>,
    report: &dyn Fn(P),
) -> Result<(SelectedDevice, GeneratorFile), KindError> {
    let device = device_for(ctx)?;
    let inputs = TrainInputs {
        train: port_dir(&ctx.inputs, "train")?,
        features: ctx.inputs.get("features").map(|dir| dir.as_path()),
    };
    let io = stage_io(ctx, "generator", &device, report)?;
    let file = train(config, ctx.seed, inputs, &io).map_err(stage_error)?;
    Ok((device, file))
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
        &stage_io(ctx, "images", &device, &report)?,
    )
    .map_err(stage_error)?;
    let mut outcome = device_outcome(&device);
    outcome
        .metadata
        .insert("images".to_owned(), Value::from(manifest.images.len()));
    Ok(outcome)
}
