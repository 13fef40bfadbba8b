//! The latent diffusion kinds: `train.autoencoder` (images → autoencoder),
//! `train.diffusion_base` (images + autoencoder → base generator), and the adaptations
//! `train.finetune`, `train.lora`, `train.dreambooth` (base generator + images →
//! generator), and `merge.lora` (LoRA generator + its base → self-contained generator).
//! `sample` draws from all of them (a LoRA generator with its base connected).

use std::collections::BTreeMap;
use std::path::Path;

use augflow_stages::generators::GeneratorFile;
use augflow_stages::generators::latent::{
    AutoencoderConfig, BaseInputs, DiffusionBaseConfig, DreamboothConfig, FinetuneConfig,
    LatentProgress, LoraConfig, MergeLoraConfig, merge_lora, train_autoencoder,
    train_diffusion_base, train_dreambooth, train_finetune, train_lora,
};

use super::ml::{device_for, device_outcome, stage_error, write_json};
use super::{
    ArtifactType, KindContext, KindError, KindOutcome, LegacyKind, Port, Progress, path_param,
    port_dir, typed_params,
};
use crate::spec::Value;

pub struct TrainAutoencoder;
pub struct TrainDiffusionBase;
pub struct TrainFinetune;
pub struct TrainLora;
pub struct TrainDreambooth;
pub struct MergeLora;

const fn port(name: &'static str, ty: ArtifactType) -> Port {
    Port { name, ty }
}

const AE_INPUTS: &[Port] = &[
    port("train", ArtifactType::ImageSet),
    port("extra", ArtifactType::ImageSet),
];
const AE_OUTPUTS: &[Port] = &[
    port("autoencoder", ArtifactType::Autoencoder),
    port("metrics", ArtifactType::Metrics),
];
const BASE_INPUTS: &[Port] = &[
    port("train", ArtifactType::ImageSet),
    port("autoencoder", ArtifactType::Autoencoder),
    port("extra", ArtifactType::ImageSet),
];
const ADAPT_INPUTS: &[Port] = &[
    port("base", ArtifactType::Generator),
    port("train", ArtifactType::ImageSet),
];
const MERGE_INPUTS: &[Port] = &[
    port("lora", ArtifactType::Generator),
    port("base", ArtifactType::Generator),
];
const GENERATOR_OUTPUT: &[Port] = &[port("generator", ArtifactType::Generator)];

/// Progress events → the renderers, at 1% granularity.
fn reporter<'a>(ctx: &'a KindContext<'_>) -> impl Fn(LatentProgress) + 'a {
    move |event| match event {
        LatentProgress::Step {
            phase,
            step,
            steps,
            loss,
        } => {
            if step % (steps / 100).max(1) == 0 || step == steps {
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
fn generator_outcome(
    device: &augflow_stages::backend::SelectedDevice,
    file: &GeneratorFile,
) -> KindOutcome {
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

impl LegacyKind for TrainAutoencoder {
    fn name(&self) -> &'static str {
        "train.autoencoder"
    }

    fn version(&self) -> u32 {
        augflow_stages::LATENT_VERSION
    }
    fn uses_device(&self) -> bool {
        true
    }

    fn inputs(&self) -> &'static [Port] {
        AE_INPUTS
    }

    fn outputs(&self) -> &'static [Port] {
        AE_OUTPUTS
    }

    fn optional_inputs(&self) -> &'static [&'static str] {
        &["extra"]
    }

    fn path_params(&self) -> &'static [&'static str] {
        &["init"]
    }

    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
        let config: AutoencoderConfig = typed_params(params)?;
        config.validate().map_err(|err| err.to_string())
    }

    fn run(
        &self,
        params: &BTreeMap<String, Value>,
        ctx: &KindContext<'_>,
    ) -> Result<KindOutcome, KindError> {
        let config: AutoencoderConfig = typed_params(params).map_err(KindError::Params)?;
        let device = device_for(ctx)?;
        let mut dirs = vec![port_dir(&ctx.inputs, "train")?.as_path()];
        if let Some(extra) = ctx.inputs.get("extra") {
            dirs.push(extra.as_path());
        }
        let init = optional_path(ctx, config.init.is_some(), "init")?;
        let report = reporter(ctx);
        let file = train_autoencoder(
            &config,
            ctx.seed,
            &dirs,
            init,
            port_dir(&ctx.outputs, "autoencoder")?,
            &device,
            &report,
            ctx.cancel,
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
}

impl LegacyKind for TrainDiffusionBase {
    fn name(&self) -> &'static str {
        "train.diffusion_base"
    }

    fn version(&self) -> u32 {
        augflow_stages::LATENT_VERSION
    }
    fn uses_device(&self) -> bool {
        true
    }

    fn inputs(&self) -> &'static [Port] {
        BASE_INPUTS
    }

    fn outputs(&self) -> &'static [Port] {
        GENERATOR_OUTPUT
    }

    fn optional_inputs(&self) -> &'static [&'static str] {
        &["extra"]
    }

    fn path_params(&self) -> &'static [&'static str] {
        &["init_unet", "init_text_encoder"]
    }

    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
        let config: DiffusionBaseConfig = typed_params(params)?;
        config.validate().map_err(|err| err.to_string())
    }

    fn run(
        &self,
        params: &BTreeMap<String, Value>,
        ctx: &KindContext<'_>,
    ) -> Result<KindOutcome, KindError> {
        let config: DiffusionBaseConfig = typed_params(params).map_err(KindError::Params)?;
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
        let file = train_diffusion_base(
            &config,
            ctx.seed,
            &inputs,
            port_dir(&ctx.outputs, "generator")?,
            &device,
            &report,
            ctx.cancel,
        )
        .map_err(stage_error)?;
        Ok(generator_outcome(&device, &file))
    }
}

/// The three adaptations differ only in config type and stage function.
macro_rules! adaptation_kind {
    ($kind:ident, $name:literal, $config:ty, $train:path) => {
        impl LegacyKind for $kind {
            fn name(&self) -> &'static str {
                $name
            }

            fn version(&self) -> u32 {
                augflow_stages::LATENT_VERSION
            }
            fn uses_device(&self) -> bool {
                true
            }

            fn inputs(&self) -> &'static [Port] {
                ADAPT_INPUTS
            }

            fn outputs(&self) -> &'static [Port] {
                GENERATOR_OUTPUT
            }

            fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
                let config: $config = typed_params(params)?;
                config.validate().map_err(|err| err.to_string())
            }

            fn run(
                &self,
                params: &BTreeMap<String, Value>,
                ctx: &KindContext<'_>,
            ) -> Result<KindOutcome, KindError> {
                let config: $config = typed_params(params).map_err(KindError::Params)?;
                let device = device_for(ctx)?;
                let report = reporter(ctx);
                let file = $train(
                    &config,
                    ctx.seed,
                    port_dir(&ctx.inputs, "base")?,
                    port_dir(&ctx.inputs, "train")?,
                    port_dir(&ctx.outputs, "generator")?,
                    &device,
                    &report,
                    ctx.cancel,
                )
                .map_err(stage_error)?;
                Ok(generator_outcome(&device, &file))
            }
        }
    };
}

adaptation_kind!(
    TrainFinetune,
    "train.finetune",
    FinetuneConfig,
    train_finetune
);
adaptation_kind!(TrainLora, "train.lora", LoraConfig, train_lora);
adaptation_kind!(
    TrainDreambooth,
    "train.dreambooth",
    DreamboothConfig,
    train_dreambooth
);

impl LegacyKind for MergeLora {
    fn name(&self) -> &'static str {
        "merge.lora"
    }

    fn version(&self) -> u32 {
        augflow_stages::LATENT_VERSION
    }
    fn uses_device(&self) -> bool {
        true
    }

    fn inputs(&self) -> &'static [Port] {
        MERGE_INPUTS
    }

    fn outputs(&self) -> &'static [Port] {
        GENERATOR_OUTPUT
    }

    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
        let config: MergeLoraConfig = typed_params(params)?;
        config.validate().map_err(|err| err.to_string())
    }

    fn run(
        &self,
        params: &BTreeMap<String, Value>,
        ctx: &KindContext<'_>,
    ) -> Result<KindOutcome, KindError> {
        let config: MergeLoraConfig = typed_params(params).map_err(KindError::Params)?;
        let device = device_for(ctx)?;
        merge_lora(
            &config,
            port_dir(&ctx.inputs, "lora")?,
            port_dir(&ctx.inputs, "base")?,
            port_dir(&ctx.outputs, "generator")?,
            &device,
        )
        .map_err(stage_error)?;
        Ok(device_outcome(&device))
    }
}
