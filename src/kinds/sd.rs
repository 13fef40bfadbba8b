//! Stable Diffusion v1.x kinds: `import.stable_diffusion` (a diffusers folder, path param
//! `folder` whose content is in the key → generator) and its adaptations
//! `train.sd_finetune`, `train.sd_lora`, `train.sd_dreambooth` (imported generator +
//! images → generator). One kind per method, as the from-scratch latent family has
//! them: each method has its own params, and a pipeline names what it runs. `sample`
//! draws from all of them.

use augflow_stages::generators::sd::{self, ImportSdConfig};

use super::ml::{device_for, device_outcome, stage_error};
use super::{
    ArtifactType, KindContext, KindError, KindOutcome, KindSpec, Port, Progress, path_param, port,
    port_dir,
};
use crate::spec::Value;

const GENERATOR_OUTPUT: &[Port] = &[port("generator", ArtifactType::Generator)];

pub const IMPORT: KindSpec = KindSpec::new("import.stable_diffusion", augflow_stages::SD_VERSION)
    .outputs(GENERATOR_OUTPUT)
    .path_params(&["folder"])
    .on_device();

const ADAPTATION_INPUTS: &[Port] = &[
    port("base", ArtifactType::Generator),
    port("train", ArtifactType::ImageSet),
];

/// An adaptation: imported SD + training images → generator.
const fn adaptation_spec(name: &'static str) -> KindSpec {
    KindSpec::new(name, augflow_stages::SD_VERSION)
        .inputs(ADAPTATION_INPUTS)
        .outputs(GENERATOR_OUTPUT)
        .on_device()
}

pub const TRAIN_FINETUNE: KindSpec = adaptation_spec("train.sd_finetune");
pub const TRAIN_LORA: KindSpec = adaptation_spec("train.sd_lora");
pub const TRAIN_DREAMBOOTH: KindSpec = adaptation_spec("train.sd_dreambooth");

pub fn import(config: &ImportSdConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let device = device_for(ctx)?;
    (ctx.progress)(Progress {
        message: "checking and copying the folder".to_owned(),
        fraction: None,
    });
    let file = sd::import_stable_diffusion(
        config,
        path_param(ctx, "folder")?,
        port_dir(&ctx.outputs, "generator")?,
        &device,
    )
    .map_err(stage_error)?;
    let mut outcome = device_outcome(&device);
    outcome
        .metadata
        .insert("image_size".to_owned(), Value::from(file.image_size));
    Ok(outcome)
}
