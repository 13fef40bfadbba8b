//! Configs of `import.stable_diffusion` and `train.sd_lora` (`train.sd_finetune` and
//! `train.sd_dreambooth` take the latent family's `FinetuneConfig` and
//! `DreamboothConfig`: the same params mean the same thing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::STUDY_PROMPT;
use crate::StageError;
use crate::generators::latent::FinetuneConfig;
use crate::generators::latent::config::check_lora_shape;

/// Config of `import.stable_diffusion`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportSdConfig {
    /// The SD v1.x folder in diffusers' layout (`unet/`, `vae/`, `text_encoder/`,
    /// `tokenizer/`, `scheduler/`), relative to the pipeline file; its content is in the key.
    pub folder: String,
    /// Pixel size the generator trains and samples at; default the U-Net's `sample_size`
    /// × the VAE's downscaling (512 for SD v1-4). A multiple of the latent grid's
    /// downscaling.
    #[serde(default)]
    pub image_size: Option<u32>,
}

impl ImportSdConfig {
    pub fn validate(&self) -> Result<(), StageError> {
        match self.image_size {
            Some(size) if !(8..=2048).contains(&size) => Err(StageError::InvalidConfig(format!(
                "image_size {size} is outside 8..=2048"
            ))),
            _ => Ok(()),
        }
    }
}

/// Config of `train.sd_lora`: LoRA adapters (Hu et al. 2021) on the U-Net's attention
/// projections `to_q`, `to_k`, `to_v`, `to_out.0`, U-Net, text encoder and VAE frozen.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdLoraConfig {
    /// Classes to train on; default: every class of the training set.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Prompt of every class, `{class}` standing for the class name.
    #[serde(default = "study_prompt")]
    pub prompt: String,
    /// Prompts of particular classes (class → prompt), replacing `prompt` for them.
    #[serde(default)]
    pub prompts: BTreeMap<String, String>,
    #[serde(default = "default_rank")]
    pub rank: usize,
    /// Scale α: the adapters add (α/rank)·A·B.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Probability of training a step's image with the empty prompt instead.
    #[serde(default)]
    pub cfg_dropout: f64,
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// diffusers' `train_text_to_image_lora.py` default.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Off by default: a mirrored chest radiograph never occurs in the test set.
    #[serde(default)]
    pub hflip: bool,
}

fn study_prompt() -> String {
    STUDY_PROMPT.to_owned()
}
fn default_rank() -> usize {
    4
}
fn default_alpha() -> f64 {
    4.0
}
fn default_steps() -> usize {
    1000
}
fn default_batch_size() -> usize {
    1
}
fn default_lr() -> f64 {
    1e-4
}

impl SdLoraConfig {
    /// The params a full fine-tune shares (prompts, loop).
    pub fn finetune(&self) -> FinetuneConfig {
        FinetuneConfig {
            classes: self.classes.clone(),
            prompt: self.prompt.clone(),
            prompts: self.prompts.clone(),
            cfg_dropout: self.cfg_dropout,
            steps: self.steps,
            batch_size: self.batch_size,
            lr: self.lr,
            hflip: self.hflip,
        }
    }

    pub fn validate(&self) -> Result<(), StageError> {
        check_lora_shape(self.rank, self.alpha)?;
        self.finetune().validate()
    }
}
