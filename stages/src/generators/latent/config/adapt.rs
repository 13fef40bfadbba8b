//! Configs of the adaptation stages (`train.finetune`, `train.lora`, `train.dreambooth`)
//! and the LoRA adapters' shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    LoopParams, check_common, check_guidance, check_probability, check_range, default_batch_size,
    default_cfg_dropout, default_guidance, default_steps, invalid,
};
use crate::StageError;

/// Prompts of the adaptation stages: `prompt` with `{class}` replaced by the class name,
/// unless `prompts` gives the class its own.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassPrompts {
    pub prompt: String,
    pub prompts: BTreeMap<String, String>,
}

impl ClassPrompts {
    pub fn for_class(&self, class: &str) -> String {
        self.prompts
            .get(class)
            .cloned()
            .unwrap_or_else(|| self.prompt.replace("{class}", class))
    }
}

/// Config of `train.finetune` (full fine-tune of the U-Net with class prompts) and of
/// `train.lora` (its `lora` block set).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinetuneConfig {
    /// Classes to fine-tune on; default: every class of the training set.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Prompt of every class, `{class}` standing for the class name.
    #[serde(default = "default_class_prompt")]
    pub prompt: String,
    /// Prompts of particular classes (class → prompt), replacing `prompt` for them.
    #[serde(default)]
    pub prompts: BTreeMap<String, String>,
    #[serde(default = "default_cfg_dropout")]
    pub cfg_dropout: f64,
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_finetune_lr")]
    pub lr: f64,
    /// Off by default: a mirrored chest radiograph (heart on the right) never occurs in
    /// the test set.
    #[serde(default)]
    pub hflip: bool,
}

/// LoRA adapters (Hu et al. 2021) on the U-Net's attention projections: W + (α/r)·A·B,
/// A ~ N(0, 1/r²), B = 0, base frozen.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoraSpec {
    pub rank: usize,
    pub alpha: f64,
    /// Also adapt the transformer blocks' input and output projections and feed-forward
    /// layers (the per-pixel linear maps around attention).
    #[serde(default)]
    pub projections: bool,
    /// Also adapt the residual blocks' 3×3 convs (LoCon-style flattened factors).
    #[serde(default)]
    pub conv: bool,
}

/// Config of `train.lora`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Prompt of every class, `{class}` standing for the class name.
    #[serde(default = "default_class_prompt")]
    pub prompt: String,
    /// Prompts of particular classes (class → prompt), replacing `prompt` for them.
    #[serde(default)]
    pub prompts: BTreeMap<String, String>,
    #[serde(default = "default_rank")]
    pub rank: usize,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default)]
    pub projections: bool,
    #[serde(default)]
    pub conv: bool,
    #[serde(default = "default_cfg_dropout")]
    pub cfg_dropout: f64,
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// The study's LoRA learning rate.
    #[serde(default = "default_lora_lr")]
    pub lr: f64,
    /// Off by default: a mirrored chest radiograph (heart on the right) never occurs in
    /// the test set.
    #[serde(default)]
    pub hflip: bool,
}

impl LoraConfig {
    pub fn lora(&self) -> LoraSpec {
        LoraSpec {
            rank: self.rank,
            alpha: self.alpha,
            projections: self.projections,
            conv: self.conv,
        }
    }

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

/// LoRA's rank (1 to 256) and scale α (positive), latent or SD.
pub(crate) fn check_lora_shape(rank: usize, alpha: f64) -> Result<(), StageError> {
    check_range("rank", rank, 1, 256)?;
    if !(alpha.is_finite() && alpha > 0.0) {
        return invalid(format!("alpha {alpha} is not a positive number"));
    }
    Ok(())
}

impl FinetuneConfig {
    pub(crate) fn loop_params(&self) -> LoopParams {
        LoopParams {
            steps: self.steps,
            batch_size: self.batch_size,
            lr: self.lr,
            cfg_dropout: self.cfg_dropout,
            hflip: self.hflip,
        }
    }

    pub fn class_prompts(&self) -> ClassPrompts {
        ClassPrompts {
            prompt: self.prompt.clone(),
            prompts: self.prompts.clone(),
        }
    }

    pub fn validate(&self) -> Result<(), StageError> {
        check_probability("cfg_dropout", self.cfg_dropout)?;
        check_common(self.steps, self.batch_size, self.lr)
    }
}

/// Config of `train.dreambooth` (Ruiz et al. 2023): one U-Net per class, fine-tuned on
/// the class's images with `instance_prompt` (holding the rare identifier) plus
/// `prior_weight` × the same loss on images the base draws for `class_prompt`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DreamboothConfig {
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    #[serde(default = "default_instance_prompt")]
    pub instance_prompt: String,
    #[serde(default = "default_class_prompt")]
    pub class_prompt: String,
    #[serde(default = "default_prior_weight")]
    pub prior_weight: f64,
    /// Prior-preservation images the base draws per class.
    #[serde(default = "default_prior_images")]
    pub prior_images: usize,
    /// DDIM steps and guidance scale the base draws them with.
    #[serde(default = "default_prior_steps")]
    pub prior_steps: usize,
    #[serde(default = "default_guidance")]
    pub prior_guidance: f64,
    /// Train the text encoder too (per class); frozen by default.
    #[serde(default)]
    pub train_text_encoder: bool,
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_finetune_lr")]
    pub lr: f64,
    /// Off by default: a mirrored chest radiograph (heart on the right) never occurs in
    /// the test set.
    #[serde(default)]
    pub hflip: bool,
}

impl DreamboothConfig {
    /// DreamBooth drops no prompts: the instance prompt is what it learns.
    pub(crate) fn loop_params(&self) -> LoopParams {
        LoopParams {
            steps: self.steps,
            batch_size: self.batch_size,
            lr: self.lr,
            cfg_dropout: 0.0,
            hflip: self.hflip,
        }
    }

    pub fn validate(&self) -> Result<(), StageError> {
        if !(self.prior_weight.is_finite() && self.prior_weight >= 0.0) {
            return invalid(format!(
                "prior_weight {} is not a number ≥ 0",
                self.prior_weight
            ));
        }
        check_range("prior_images", self.prior_images, 1, 10_000)?;
        check_range("prior_steps", self.prior_steps, 1, 1000)?;
        check_guidance(self.prior_guidance)?;
        check_common(self.steps, self.batch_size, self.lr)
    }
}

fn default_class_prompt() -> String {
    "an x-ray image of the lung with {class}".to_owned()
}
fn default_instance_prompt() -> String {
    "an x-ray image of the lung with sks {class}".to_owned()
}
fn default_finetune_lr() -> f64 {
    1e-5
}
fn default_lora_lr() -> f64 {
    1e-5
}
fn default_rank() -> usize {
    4
}
fn default_alpha() -> f64 {
    4.0
}
fn default_prior_weight() -> f64 {
    1.0
}
fn default_prior_images() -> usize {
    50
}
fn default_prior_steps() -> usize {
    25
}
