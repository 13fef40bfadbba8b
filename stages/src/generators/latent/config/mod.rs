//! Typed configs of the latent-diffusion stages, and the network shapes saved in their
//! artifacts. User YAML is parsed into these (unknown keys rejected) before any Burn
//! module exists. The adaptations' configs are in `adapt.rs` (re-exported here).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::StageError;
use crate::generators::NoiseSchedule;
use crate::generators::config::validate_size;

mod adapt;

pub(crate) use adapt::check_lora_shape;
pub use adapt::{ClassPrompts, DreamboothConfig, FinetuneConfig, LoraConfig, LoraSpec};

/// The optimisation params a stage's config gives the training loop (`train.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopParams {
    pub steps: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub cfg_dropout: f64,
    pub hflip: bool,
}

/// The autoencoder's shape. Saved in its artifact and in every generator made from it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderSpec {
    /// Side of the images it encodes.
    pub image_size: u32,
    /// Image side ÷ latent side: 4 or 8.
    pub factor: u32,
    /// Channels of the first level; each halving doubles them, up to 4×.
    pub base_channels: usize,
    pub latent_channels: usize,
}

impl AutoencoderSpec {
    /// (channels, side) of the latent grid.
    pub fn latent_shape(&self) -> (usize, usize) {
        (self.latent_channels, self.latent_size() as usize)
    }

    pub fn latent_size(&self) -> u32 {
        self.image_size / self.factor
    }

    /// Channels at level `i` (level 0 is full resolution).
    pub fn channels(&self, level: usize) -> usize {
        self.base_channels * (1 << level.min(2))
    }

    pub fn levels(&self) -> usize {
        self.factor.trailing_zeros() as usize
    }
}

/// Config of `train.autoencoder`: a KL-regularised convolutional autoencoder (the
/// latent-diffusion VAE design, without its perceptual and adversarial terms).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderConfig {
    #[serde(default = "default_image_size")]
    pub image_size: u32,
    /// 4 or 8.
    #[serde(default = "default_factor")]
    pub factor: u32,
    #[serde(default = "default_ae_channels")]
    pub base_channels: usize,
    #[serde(default = "default_latent_channels")]
    pub latent_channels: usize,
    /// Weight of KL(q(z|x) ‖ N(0, I)) against the per-pixel squared error.
    #[serde(default = "default_kl_weight")]
    pub kl_weight: f64,
    #[serde(default = "default_ae_steps")]
    pub steps: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_ae_lr")]
    pub lr: f64,
    /// Off by default: a mirrored chest radiograph (heart on the right) never occurs in
    /// the test set.
    #[serde(default)]
    pub hflip: bool,
    /// A safetensors file (path param) to start from, with this module's tensor names.
    #[serde(default)]
    pub init: Option<String>,
}

impl AutoencoderConfig {
    pub fn spec(&self) -> AutoencoderSpec {
        AutoencoderSpec {
            image_size: self.image_size,
            factor: self.factor,
            base_channels: self.base_channels,
            latent_channels: self.latent_channels,
        }
    }

    pub fn validate(&self) -> Result<(), StageError> {
        validate_size(self.image_size)?;
        if ![4, 8].contains(&self.factor) {
            return invalid(format!("factor {} is not 4 or 8", self.factor));
        }
        if !self.image_size.is_multiple_of(self.factor) || self.image_size / self.factor < 4 {
            return invalid(format!(
                "image_size {} is not a multiple of factor {} with a latent side of at least 4",
                self.image_size, self.factor
            ));
        }
        check_range("base_channels", self.base_channels, 1, 256)?;
        check_range("latent_channels", self.latent_channels, 1, 16)?;
        if !(self.kl_weight.is_finite() && self.kl_weight >= 0.0) {
            return invalid(format!("kl_weight {} is not a number ≥ 0", self.kl_weight));
        }
        check_common(self.steps, self.batch_size, self.lr)
    }
}

/// The prompt encoder's shape and vocabulary (see [`super::vocab`]).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextSpec {
    /// Token i is word i; token 0 is padding (and the empty prompt is all padding).
    pub vocabulary: Vec<String>,
    /// Tokens per prompt (prompts are padded to it).
    pub context_length: usize,
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
}

/// The latent U-Net's shape.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatentUNetSpec {
    pub base_channels: usize,
    pub channel_mults: Vec<usize>,
    pub res_blocks: usize,
    /// Latent sides at which a transformer block (self- and cross-attention) follows each
    /// residual block; the middle block always has one.
    pub attention_resolutions: Vec<u32>,
    pub heads: usize,
    /// Width of the conditioning sequence (the text encoder's width).
    pub context_dim: usize,
}

impl LatentUNetSpec {
    /// Checks the U-Net against a latent grid of side `side`: it must halve evenly at
    /// every level (else the up path's skips do not fit, and Burn panics mid-training),
    /// and every attention resolution must be one of its sides (else it is ignored).
    pub fn check_latent_side(&self, side: u32) -> Result<(), StageError> {
        let halvings = self.channel_mults.len().saturating_sub(1) as u32;
        if !side.is_multiple_of(1 << halvings) {
            return invalid(format!(
                "the latent side {side} (the autoencoder's image_size / factor) cannot be \
                 halved {halvings} times for channel_mults {:?}",
                self.channel_mults
            ));
        }
        let sides: Vec<u32> = (0..=halvings).map(|i| side >> i).collect();
        if let Some(r) = self
            .attention_resolutions
            .iter()
            .find(|r| !sides.contains(r))
        {
            return invalid(format!(
                "attention_resolutions holds {r}, which is not a latent side of this U-Net \
                 (its sides are {sides:?})"
            ));
        }
        Ok(())
    }
}

/// Config of `train.diffusion_base`: the base latent diffusion model, pretrained on all
/// training images (and any extra ones) with generic prompts.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffusionBaseConfig {
    #[serde(default = "default_unet_channels")]
    pub base_channels: usize,
    #[serde(default = "default_unet_mults")]
    pub channel_mults: Vec<usize>,
    #[serde(default = "default_res_blocks")]
    pub res_blocks: usize,
    #[serde(default = "default_unet_attention")]
    pub attention_resolutions: Vec<u32>,
    #[serde(default = "default_heads")]
    pub heads: usize,
    #[serde(default = "default_text_width")]
    pub text_width: usize,
    #[serde(default = "default_text_layers")]
    pub text_layers: usize,
    #[serde(default = "default_context_length")]
    pub context_length: usize,
    /// Words added to the built-in vocabulary (class names are always added).
    #[serde(default)]
    pub extra_words: Vec<String>,
    /// The prompt every pretraining image gets.
    #[serde(default = "default_generic_prompt")]
    pub prompt: String,
    #[serde(default = "default_schedule")]
    pub schedule: NoiseSchedule,
    #[serde(default = "default_timesteps")]
    pub timesteps: usize,
    /// Probability that a training prompt is replaced by the empty prompt, so the model
    /// also learns the unconditional prediction classifier-free guidance needs.
    #[serde(default = "default_cfg_dropout")]
    pub cfg_dropout: f64,
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Off by default: a mirrored chest radiograph (heart on the right) never occurs in
    /// the test set.
    #[serde(default)]
    pub hflip: bool,
    /// Safetensors files (path params) to initialise the U-Net and the text encoder
    /// from, with this module's tensor names (docs/pipelines.md lists them).
    #[serde(default)]
    pub init_unet: Option<String>,
    #[serde(default)]
    pub init_text_encoder: Option<String>,
}

impl DiffusionBaseConfig {
    pub(crate) fn loop_params(&self) -> LoopParams {
        LoopParams {
            steps: self.steps,
            batch_size: self.batch_size,
            lr: self.lr,
            cfg_dropout: self.cfg_dropout,
            hflip: self.hflip,
        }
    }

    pub fn unet(&self) -> LatentUNetSpec {
        LatentUNetSpec {
            base_channels: self.base_channels,
            channel_mults: self.channel_mults.clone(),
            res_blocks: self.res_blocks,
            attention_resolutions: self.attention_resolutions.clone(),
            heads: self.heads,
            context_dim: self.text_width,
        }
    }

    pub fn validate(&self) -> Result<(), StageError> {
        check_range("base_channels", self.base_channels, 1, 512)?;
        if self.channel_mults.is_empty() || self.channel_mults.contains(&0) {
            return invalid(format!(
                "channel_mults {:?} must be non-empty and positive",
                self.channel_mults
            ));
        }
        check_range("channel_mults levels", self.channel_mults.len(), 1, 5)?;
        check_range("res_blocks", self.res_blocks, 1, 4)?;
        check_range("heads", self.heads, 1, 16)?;
        check_range("text_width", self.text_width, 1, 1024)?;
        check_range("text_layers", self.text_layers, 1, 12)?;
        check_range("context_length", self.context_length, 1, 77)?;
        for (name, width) in [
            ("base_channels", self.base_channels),
            ("text_width", self.text_width),
        ] {
            if !width.is_multiple_of(self.heads) {
                return invalid(format!(
                    "{name} {width} is not a multiple of heads {}",
                    self.heads
                ));
            }
        }
        if !(2..=4000).contains(&self.timesteps) {
            return invalid(format!("timesteps {} is outside 2..=4000", self.timesteps));
        }
        check_probability("cfg_dropout", self.cfg_dropout)?;
        check_common(self.steps, self.batch_size, self.lr)
    }
}

pub(crate) fn check_guidance(guidance: f64) -> Result<(), StageError> {
    if !(guidance.is_finite() && (0.0..=50.0).contains(&guidance)) {
        return invalid(format!("guidance {guidance} is outside 0..=50"));
    }
    Ok(())
}

pub(super) fn invalid(msg: String) -> Result<(), StageError> {
    Err(StageError::InvalidConfig(msg))
}

pub(super) fn check_range(
    name: &str,
    value: usize,
    min: usize,
    max: usize,
) -> Result<(), StageError> {
    if !(min..=max).contains(&value) {
        return invalid(format!("{name} {value} is outside {min}..={max}"));
    }
    Ok(())
}

pub(super) fn check_probability(name: &str, p: f64) -> Result<(), StageError> {
    if !(0.0..1.0).contains(&p) {
        return invalid(format!("{name} {p} is outside [0, 1)"));
    }
    Ok(())
}

pub(super) fn check_common(steps: usize, batch_size: usize, lr: f64) -> Result<(), StageError> {
    if steps == 0 {
        return invalid("steps is 0".to_owned());
    }
    check_range("batch_size", batch_size, 1, 1024)?;
    if !(lr.is_finite() && lr > 0.0) {
        return invalid(format!("lr {lr} is not a positive number"));
    }
    Ok(())
}

fn default_image_size() -> u32 {
    64
}
fn default_factor() -> u32 {
    4
}
fn default_ae_channels() -> usize {
    32
}
fn default_latent_channels() -> usize {
    4
}
fn default_kl_weight() -> f64 {
    1e-6
}
fn default_ae_steps() -> usize {
    5_000
}
fn default_ae_lr() -> f64 {
    1e-3
}
pub(super) fn default_batch_size() -> usize {
    16
}
fn default_unet_channels() -> usize {
    64
}
fn default_unet_mults() -> Vec<usize> {
    vec![1, 2, 2]
}
fn default_res_blocks() -> usize {
    1
}
fn default_unet_attention() -> Vec<u32> {
    vec![8, 4]
}
fn default_heads() -> usize {
    4
}
fn default_text_width() -> usize {
    64
}
fn default_text_layers() -> usize {
    2
}
fn default_context_length() -> usize {
    16
}
fn default_generic_prompt() -> String {
    "an x-ray image of the lung".to_owned()
}
fn default_schedule() -> NoiseSchedule {
    NoiseSchedule::Linear
}
fn default_timesteps() -> usize {
    1000
}
pub(super) fn default_cfg_dropout() -> f64 {
    0.1
}
pub(super) fn default_steps() -> usize {
    10_000
}
fn default_lr() -> f64 {
    2e-4
}
pub(crate) fn default_guidance() -> f64 {
    3.0
}

/// Which stage made a latent generator.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LatentMethod {
    /// `train.diffusion_base`: pretrained with generic prompts.
    Base,
    /// `train.finetune`: the whole U-Net fine-tuned with class prompts.
    Finetune,
    /// `train.lora`: adapters only; the base's networks come from the `base` input.
    Lora,
    /// `train.dreambooth`: one U-Net (and optionally text encoder) per class.
    Dreambooth,
    /// `merge.lora`: a LoRA generator's adapters merged into its base's U-Net at
    /// `lora_scale`; self-contained.
    MergedLora,
}

/// Everything `sample` needs to rebuild a latent generator's networks.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatentSpec {
    pub method: LatentMethod,
    pub autoencoder: AutoencoderSpec,
    /// Latents are multiplied by this before diffusion and divided by it before decoding.
    pub scale_factor: f64,
    pub text: TextSpec,
    pub unet: LatentUNetSpec,
    pub schedule: NoiseSchedule,
    pub timesteps: usize,
    /// The prompt `sample` uses for each class unless given one.
    pub prompts: BTreeMap<String, String>,
    /// LoRA only: the adapters' shape and the digest of the base generator's files
    /// ([`super::files::base_digest`]).
    #[serde(default)]
    pub lora: Option<LoraSpec>,
    #[serde(default)]
    pub base_digest: Option<String>,
    /// DreamBooth with `train_text_encoder`: one text encoder file per class.
    #[serde(default)]
    pub text_per_class: bool,
    /// Merged LoRA: the scale the adapters were merged at.
    #[serde(default)]
    pub lora_scale: Option<f64>,
}
