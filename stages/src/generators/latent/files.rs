//! On-disk pieces of the latent generators: the autoencoder artifact
//! (`autoencoder.json` + `autoencoder.safetensors`), the weight-file names inside a
//! latent generator, and the digest that ties a LoRA artifact to its base.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::AutoencoderSpec;
use crate::StageError;
use crate::json_file::{read_versioned, write_json};

pub const AUTOENCODER_FILE: &str = "autoencoder.json";
/// Version of `autoencoder.json`; readers reject any other.
pub const AUTOENCODER_FORMAT: u32 = 1;
pub const AUTOENCODER_WEIGHTS: &str = "autoencoder.safetensors";
pub const TEXT_WEIGHTS: &str = "text_encoder.safetensors";
pub const UNET_WEIGHTS: &str = "unet.safetensors";
pub const LORA_WEIGHTS: &str = "lora.safetensors";

/// A DreamBooth generator's U-Net of `class` (latent or SD: one per class).
pub fn dreambooth_unet(class: &str) -> String {
    format!("unet-{class}.safetensors")
}

/// A DreamBooth generator's text encoder of `class`, with `train_text_encoder`.
pub fn dreambooth_text_encoder(class: &str) -> String {
    format!("text_encoder-{class}.safetensors")
}

/// Reconstruction quality of the autoencoder on a set of images (pixels in [−1, 1]
/// mapped to [0, 1]).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Reconstruction {
    pub images: usize,
    pub mse: f64,
    pub mae: f64,
    /// 10·log10(1 / mse), in dB.
    pub psnr: f64,
}

/// Contents of `autoencoder.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderFile {
    pub format: u32,
    pub spec: AutoencoderSpec,
    /// Latents are multiplied by this before diffusion (1 / std of the training
    /// latents, as Stable Diffusion's 0.18215).
    pub scale_factor: f64,
    pub steps: usize,
    /// Training loss, averaged over `loss_every` steps.
    pub loss_every: usize,
    pub losses: Vec<f32>,
    /// Decoding the posterior means of the training images.
    pub reconstruction: Reconstruction,
}

impl AutoencoderFile {
    pub fn read(dir: &Path) -> Result<Self, StageError> {
        read_versioned(
            &dir.join(AUTOENCODER_FILE),
            AUTOENCODER_FORMAT,
            |file: &Self| file.format,
        )
    }

    pub fn write(&self, dir: &Path) -> Result<(), StageError> {
        write_json(&dir.join(AUTOENCODER_FILE), self)
    }
}

pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    fs::write(path, bytes).map_err(|source| StageError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Copies `name` from one artifact folder into another.
pub(crate) fn copy_file(from: &Path, to: &Path, name: &str) -> Result<(), StageError> {
    let source_path = from.join(name);
    let bytes = fs::read(&source_path).map_err(|source| StageError::Read {
        path: source_path,
        source,
    })?;
    write_bytes(&to.join(name), &bytes)
}

/// blake3 over the files of a base generator that a LoRA artifact builds on
/// (`generator.json` and every weight file, by name, in name order): what the LoRA
/// artifact records, and what sampling checks the `base` input against.
pub fn base_digest(dir: &Path) -> Result<String, StageError> {
    let mut names = Vec::new();
    let entries = fs::read_dir(dir).map_err(|source| StageError::ListDir {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| StageError::ListDir {
            path: dir.to_owned(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == crate::generators::GENERATOR_FILE || name.ends_with(".safetensors") {
            names.push(name);
        }
    }
    names.sort();
    let mut hasher = blake3::Hasher::new();
    for name in names {
        let path = dir.join(&name);
        let bytes = fs::read(&path).map_err(|source| StageError::Read { path, source })?;
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().to_hex().to_string())
}
