//! `merge.lora`: a LoRA generator and its base → one self-contained generator whose U-Net
//! has the adapters merged in (W + scale·(α/r)·A·B), so it samples like a fine-tune, with
//! no `base` input (what a study matrix over generators needs).

use std::path::Path;

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::config::LatentMethod;
use super::files::{AUTOENCODER_WEIGHTS, TEXT_WEIGHTS, UNET_WEIGHTS, copy_file, write_bytes};
use super::sample::LatentSampler;
use crate::StageError;
use crate::backend::SelectedDevice;
use crate::data::out_dir::start_stage;
use crate::generators::{GeneratorFile, GeneratorSpec};
use crate::weights::module_bytes;

/// Config of `merge.lora`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeLoraConfig {
    /// The adapters' scale (as `sample`'s `lora_scale`).
    #[serde(default = "one")]
    pub scale: f64,
}

fn one() -> f64 {
    1.0
}

impl MergeLoraConfig {
    pub fn validate(&self) -> Result<(), StageError> {
        if !(self.scale.is_finite() && (0.0..=10.0).contains(&self.scale)) {
            return Err(StageError::InvalidConfig(format!(
                "scale {} is outside 0..=10",
                self.scale
            )));
        }
        Ok(())
    }
}

/// Merges the LoRA generator in `lora_dir` into the U-Net of its base in `base_dir` (the
/// digest must match) and writes a self-contained generator into the empty `out_dir`.
pub fn merge_lora(
    cfg: &MergeLoraConfig,
    lora_dir: &Path,
    base_dir: &Path,
    out_dir: &Path,
    device: &SelectedDevice,
) -> Result<GeneratorFile, StageError> {
    start_stage(cfg, out_dir)?;
    let file = GeneratorFile::read(lora_dir)?;
    let GeneratorSpec::Latent { latent } = &file.spec else {
        return Err(StageError::InvalidConfig(format!(
            "the lora input is a {} generator, not a train.lora output",
            file.spec.name()
        )));
    };
    if latent.method != LatentMethod::Lora {
        return Err(StageError::InvalidConfig(format!(
            "the lora input is a {} generator, not a train.lora output",
            file.spec.name()
        )));
    }
    let sampler = LatentSampler::new(latent, lora_dir, Some(base_dir), &device.device)?;
    let Some(checkpoint) = file.checkpoints.first() else {
        return Err(StageError::InvalidConfig(
            "the LoRA generator has no class".to_owned(),
        ));
    };
    let model = sampler.model(checkpoint, Some(cfg.scale), &device.device)?;
    let unet = model.unet.valid().materialize();
    write_bytes(
        &out_dir.join(UNET_WEIGHTS),
        &module_bytes(&unet, "merged unet")?,
    )?;
    copy_file(base_dir, out_dir, AUTOENCODER_WEIGHTS)?;
    copy_file(base_dir, out_dir, TEXT_WEIGHTS)?;
    let mut spec = (**latent).clone();
    spec.method = LatentMethod::MergedLora;
    spec.lora_scale = Some(cfg.scale);
    let merged = GeneratorFile {
        spec: GeneratorSpec::Latent {
            latent: Box::new(spec),
        },
        checkpoints: file
            .checkpoints
            .iter()
            .map(|c| crate::generators::Checkpoint {
                weights: UNET_WEIGHTS.to_owned(),
                ..c.clone()
            })
            .collect(),
        ..file.clone()
    };
    merged.write(out_dir)?;
    Ok(merged)
}
