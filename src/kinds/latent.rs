//! The latent diffusion kinds: `train.autoencoder` (images → autoencoder),
//! `train.diffusion_base` (images + autoencoder → base generator), and the adaptations
//! `train.finetune`, `train.lora`, `train.dreambooth` (base generator + images →
//! generator), and `merge.lora` (LoRA generator + its base → self-contained generator).
//! `sample` draws from all of them (a LoRA generator with its base connected).

use std::path::Path;

use augflow_stages::StageError;
use augflow_stages::backend::SelectedDevice;
use augflow_stages::generators::GeneratorFile;
use augflow_stages::generators::latent::{
    self, AdaptIo, AutoencoderConfig, BaseInputs, DiffusionBaseConfig, LatentProgress,
    MergeLoraConfig,
};

use super::ml::{device_for, device_outcome, reports_step, stage_error, stage_io, write_json};
use super::{
    ArtifactType, KindContext, KindError, KindOutcome, KindSpec, Port, Progress, path_param, port,
    port_dir,
};
use crate::spec::Value;

const GENERATOR_OUTPUT: &[Port] = &[port("generator", ArtifactType::Generator)];

/// A latent-diffusion kind: versioned together, computing on the device.
const fn latent_spec(name: &'static str) -> KindSpec {
    KindSpec::new(name, augflow_stages::LATENT_VERSION).on_device()
}

pub const TRAIN_AUTOENCODER: KindSpec = latent_spec("train.autoencoder")
    .inputs(&[
        port("train", ArtifactType::ImageSet),
        port("extra", ArtifactType::ImageSet),
    ])
    .outputs(&[
        port("autoencoder", ArtifactType::Autoencoder),
        port("metrics", ArtifactType::Metrics),
    ])
    .optional(&["extra"])
    .path_params(&["init"]);

pub const TRAIN_DIFFUSION_BASE: KindSpec = latent_spec("train.diffusion_base")
    .inputs(&[
        port("train", ArtifactType::ImageSet),
        port("autoencoder", ArtifactType::Autoencoder),
        port("extra", ArtifactType::ImageSet),
    ])
    .outputs(GENERATOR_OUTPUT)
    .optional(&["extra"])
    .path_params(&["init_unet", "init_text_encoder"]);

const ADAPTATION_INPUTS: &[Port] = &[
    port("base", ArtifactType::Generator),
    port("train", ArtifactType::ImageSet),
];

/// `train.finetune`, `train.lora` and `train.dreambooth`: base generator + images.
const fn adaptation_spec(name: &'static str) -> KindSpec {
    latent_spec(name)
        .inputs(ADAPTATION_INPUTS)
        .outputs(GENERATOR_OUTPUT)
}

pub const TRAIN_FINETUNE: KindSpec = adaptation_spec("train.finetune");
pub const TRAIN_LORA: KindSpec = adaptation_spec("train.lora");
pub const TRAIN_DREAMBOOTH: KindSpec = adaptation_spec("train.dreambooth");

pub const MERGE_LORA: KindSpec = latent_spec("merge.lora")
    .inputs(&[
        port("lora", ArtifactType::Generator),
        port("base", ArtifactType::Generator),
    ])
    .outputs(GENERATOR_OUTPUT);

/// Progress events → the renderers, at 1% granularity.
fn reporter<'a>(ctx: &'a KindContext<'_>) -> impl Fn(LatentProgress) + 'a {
    move |event| match event {
        LatentProgress::Step {
            phase,
            step,
            steps,
            loss,
        } => {
            if reports_step(step, steps) {
                (ctx.progress)(Progress {
                    message: format!("{phase} step {step}/{steps} loss {loss:.4}"),
                    fraction: Some(step as f64 / steps as f64),
                });
            }
        }
        LatentProgress::Prior { class, done, total } => (ctx.progress)(Progress {
            message: format!("prior images of {class}: {done}/{total}"),
            fraction: None,
        }),
    }
}

/// The resolved path param `name` when the params set it.
fn optional_path<'a>(
    ctx: &'a KindContext<'_>,
    set: bool,
    name: &str,
) -> Result<Option<&'a Path>, KindError> {
    if set {
        Ok(Some(path_param(ctx, name)?.as_path()))
    } else {
        Ok(None)
    }
}

/// The last windowed loss of each series, for the action entry.
fn generator_outcome(device: &SelectedDevice, file: &GeneratorFile) -> KindOutcome {
    let mut outcome = device_outcome(device);
    let last: serde_json::Map<String, Value> = file
        .losses
        .iter()
        .filter_map(|(name, series)| series.last().map(|&l| (name.clone(), Value::from(l))))
        .collect();
    outcome
        .metadata
        .insert("final_loss".to_owned(), Value::Object(last));
    outcome
}

pub fn train_autoencoder(
    config: &AutoencoderConfig,
    ctx: &KindContext<'_>,
) -> Result<KindOutcome, KindError> {
    let device = device_for(ctx)?;
    let mut dirs = vec![port_dir(&ctx.inputs, "train")?.as_path()];
    if let Some(extra) = ctx.inputs.get("extra") {
        dirs.push(extra.as_path());
    }
    let init = optional_path(ctx, config.init.is_some(), "init")?;
    let report = reporter(ctx);
    let file = latent::train_autoencoder(
        config,
        ctx.seed,
        &dirs,
        init,
        &stage_io(ctx, "autoencoder", &device, &report)?,
    )
    .map_err(stage_error)?;
    let metrics = serde_json::json!({
        "reconstruction": file.reconstruction,
        "scale_factor": file.scale_factor,
        "final_loss": file.losses.last(),
        "device": device.name,
    });
    write_json(
        &port_dir(&ctx.outputs, "metrics")?.join("metrics.json"),
        &metrics,
    )?;
    let mut outcome = device_outcome(&device);
    outcome
        .metadata
        .insert("psnr".to_owned(), Value::from(file.reconstruction.psnr));
    Ok(outcome)
}

pub fn train_diffusion_base(
    config: &DiffusionBaseConfig,
    ctx: &KindContext<'_>,
) -> Result<KindOutcome, KindError> {
    let device = device_for(ctx)?;
    let inputs = BaseInputs {
        train: port_dir(&ctx.inputs, "train")?,
        extra: ctx
            .inputs
            .get("extra")
            .map(|p| p.as_path())
            .into_iter()
            .collect(),
        autoencoder: port_dir(&ctx.inputs, "autoencoder")?,
        init_unet: optional_path(ctx, config.init_unet.is_some(), "init_unet")?,
        init_text_encoder: optional_path(
            ctx,
            config.init_text_encoder.is_some(),
            "init_text_encoder",
        )?,
    };
    let report = reporter(ctx);
    let file = latent::train_diffusion_base(
        config,
        ctx.seed,
        &inputs,
        &stage_io(ctx, "generator", &device, &report)?,
    )
    .map_err(stage_error)?;
    Ok(generator_outcome(&device, &file))
}

/// One adaptation's stage function.
pub(super) type Adapt<C> = fn(&C, &AdaptIo<'_>) -> Result<GeneratorFile, StageError>;

/// The adaptations, latent and SD, differ only in config type and stage function: each
/// kind runs this over its own (see `adaptation!` in the registry).
pub(super) fn adapt<C>(
    config: &C,
    ctx: &KindContext<'_>,
    train: Adapt<C>,
) -> Result<KindOutcome, KindError> {
    let device = device_for(ctx)?;
    let report = reporter(ctx);
    let io = AdaptIo {
        seed: ctx.seed,
        base_dir: port_dir(&ctx.inputs, "base")?,
        train_dir: port_dir(&ctx.inputs, "train")?,
        out_dir: port_dir(&ctx.outputs, "generator")?,
        device: &device,
        progress: &report,
        cancel: ctx.cancel,
    };
    let file = train(config, &io).map_err(stage_error)?;
    Ok(generator_outcome(&device, &file))
}

pub fn merge_lora(
    config: &MergeLoraConfig,
    ctx: &KindContext<'_>,
) -> Result<KindOutcome, KindError> {
    let device = device_for(ctx)?;
    latent::merge_lora(
        config,
        port_dir(&ctx.inputs, "lora")?,
        port_dir(&ctx.inputs, "base")?,
        port_dir(&ctx.outputs, "generator")?,
        &device,
    )
    .map_err(stage_error)?;
    Ok(device_outcome(&device))
}
