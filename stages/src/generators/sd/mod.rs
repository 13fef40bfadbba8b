//! Stable Diffusion v1.x as a generator family: imported from a diffusers folder
//! ([`import_stable_diffusion`]), adapted to the training images with class prompts
//! ([`train_sd_finetune`]: the U-Net; [`train_sd_lora`]: LoRA adapters on the U-Net's
//! attention projections, also written in diffusers' naming; [`train_sd_dreambooth`]: a
//! U-Net per class with prior preservation), and sampled through `sample`.
//!
//! Every SD generator artifact is self-contained: `generator.json`, the imported folder
//! under `sd/` (diffusers' layout, files byte for byte as imported: f16 files stay f16
//! and are widened when loaded), and what the adaptation trained, in Burn's naming
//! (`unet.safetensors`, `unet-<class>.safetensors`, `lora.safetensors`). The text
//! encoder and the VAE stay frozen; training images are encoded once with the VAE's
//! latent mean × its config's scaling factor, gray replicated to RGB.

mod config;
mod diffusers_lora;
mod import;
mod model;
pub(crate) mod sample;
mod train;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use config::{ImportSdConfig, SdLoraConfig};
pub use diffusers_lora::{DIFFUSERS_LORA_FILE, diffusers_lora_tensors};
pub use import::import_stable_diffusion;
pub use train::{train_sd_dreambooth, train_sd_finetune, train_sd_lora};

/// The imported diffusers folder inside an SD artifact.
pub const SD_DIR: &str = "sd";
/// A fine-tune's U-Net (Burn naming).
pub const SD_UNET_FILE: &str = "unet.safetensors";
/// A LoRA's adapter factors (Burn naming).
pub const SD_LORA_FILE: &str = "lora.safetensors";

/// The prompt of every class where nothing else says: the study's.
pub const STUDY_PROMPT: &str = "an x-ray image of the lung with {class}";

/// How an SD generator was made.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SdMethod {
    Import,
    Finetune,
    Lora,
    Dreambooth,
}

/// The LoRA adapters' shape: W + (α/r)·A·B on the targeted projections.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SdLoraSpec {
    pub rank: usize,
    pub alpha: f64,
}

/// What `generator.json` records of an SD generator.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SdSpec {
    pub method: SdMethod,
    /// The prompt each class was trained with (empty for an import).
    pub prompts: BTreeMap<String, String>,
    #[serde(default)]
    pub lora: Option<SdLoraSpec>,
    /// DreamBooth with `train_text_encoder`: a text encoder per class.
    #[serde(default)]
    pub text_per_class: bool,
}

impl SdSpec {
    /// The name synthetic images are marked with (`synthetic:<name>`).
    pub fn name(&self) -> &'static str {
        match self.method {
            SdMethod::Import => "sd",
            SdMethod::Finetune => "sd_finetune",
            SdMethod::Lora => "sd_lora",
            SdMethod::Dreambooth => "sd_dreambooth",
        }
    }
}
