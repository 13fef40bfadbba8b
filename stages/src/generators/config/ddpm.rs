//! Config of `train.ddpm` (one unconditional DDPM per class) and its checkpoint selection.

use serde::{Deserialize, Serialize};

use super::{validate_holdout, validate_size};
use crate::StageError;

/// How the forward process adds noise.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoiseSchedule {
    /// β from 1e-4 to 0.02 over 1,000 steps (Ho et al. 2020), rescaled for other lengths.
    Linear,
    /// ᾱ(t) = cos²(((t/T + s)/(1 + s))·π/2), s = 0.008 (Nichol & Dhariwal 2021).
    Cosine,
}

/// The U-Net's shape. Saved in the generator artifact, so sampling rebuilds it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UNetSpec {
    /// Channels of the first level.
    pub base_channels: usize,
    /// Channel multiplier per level; each level after the first halves the resolution.
    pub channel_mults: Vec<usize>,
    /// Residual blocks per level.
    pub res_blocks: usize,
    /// Resolutions (image sides) at which self-attention follows each residual block.
    pub attention_resolutions: Vec<u32>,
}

/// Config of `train.ddpm`: one unconditional DDPM per class, as in the study.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DdpmConfig {
    /// Classes to train a model for; default: every class of the training set.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    #[serde(default = "default_image_size")]
    pub image_size: u32,
    #[serde(default = "default_base_channels")]
    pub base_channels: usize,
    #[serde(default = "default_channel_mults")]
    pub channel_mults: Vec<usize>,
    #[serde(default = "default_res_blocks")]
    pub res_blocks: usize,
    #[serde(default = "default_attention")]
    pub attention_resolutions: Vec<u32>,
    #[serde(default = "default_schedule")]
    pub schedule: NoiseSchedule,
    /// Diffusion steps T of the forward process.
    #[serde(default = "default_timesteps")]
    pub timesteps: usize,
    /// Optimiser steps per class.
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Adam's learning rate (constant, after a linear warm-up over the first 5% of steps).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Decay of the exponential moving average of the weights that sampling uses.
    #[serde(default = "default_ema")]
    pub ema_decay: f64,
    /// Min-SNR-γ loss weighting (Hang et al. 2023): timestep t's ε-loss is weighted by
    /// min(SNR_t, γ)/SNR_t, SNR_t = ᾱ_t/(1 − ᾱ_t), so the nearly clean timesteps, whose
    /// large ε-errors matter least, stop dominating the gradient. Default: unweighted, as
    /// Ho et al. (the study's DDPM).
    #[serde(default)]
    pub min_snr_gamma: Option<f64>,
    /// Mirror training images left-right with probability 0.5.
    /// Off by default: a mirrored chest radiograph (heart on the right) never occurs in
    /// the test set.
    #[serde(default)]
    pub hflip: bool,
    #[serde(default)]
    pub selection: SelectionConfig,
}

/// Checkpoint selection on held-out real **training** images of the class (never val or
/// test): every `every` steps the EMA model draws `samples` images with a short DDIM run,
/// and the checkpoint with the lowest KID against the held-out images is kept. With
/// `holdout: 0` (the default) nothing is held out and the last EMA weights are kept: with
/// a few hundred images per class, the handful a 10 % holdout leaves scores checkpoints
/// within noise of each other while costing training images.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SelectionConfig {
    /// Checkpoint interval in optimiser steps; the last step is always a checkpoint.
    pub every: usize,
    /// Fraction of the class's training images held out from generator training; 0 keeps
    /// the last EMA weights.
    pub holdout: f64,
    /// Images drawn per checkpoint.
    pub samples: usize,
    /// DDIM steps for those images.
    pub ddim_steps: usize,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        Self {
            every: 1000,
            holdout: 0.0,
            samples: 64,
            ddim_steps: 50,
        }
    }
}

pub(super) fn default_image_size() -> u32 {
    64
}
fn default_base_channels() -> usize {
    64
}
fn default_channel_mults() -> Vec<usize> {
    vec![1, 2, 2, 2]
}
fn default_res_blocks() -> usize {
    2
}
fn default_attention() -> Vec<u32> {
    vec![16]
}
fn default_schedule() -> NoiseSchedule {
    NoiseSchedule::Linear
}
fn default_timesteps() -> usize {
    1000
}
pub(super) fn default_steps() -> usize {
    20_000
}
pub(super) fn default_batch_size() -> usize {
    16
}
fn default_lr() -> f64 {
    2e-4
}
pub(super) fn default_ema() -> f64 {
    0.999
}

impl DdpmConfig {
    pub fn unet(&self) -> UNetSpec {
        UNetSpec {
            base_channels: self.base_channels,
            channel_mults: self.channel_mults.clone(),
            res_blocks: self.res_blocks,
            attention_resolutions: self.attention_resolutions.clone(),
        }
    }

    pub fn validate(&self) -> Result<(), StageError> {
        let invalid = |msg: String| Err(StageError::InvalidConfig(msg));
        validate_size(self.image_size)?;
        if self.base_channels == 0 || self.base_channels > 512 {
            return invalid(format!(
                "base_channels {} is outside 1..=512",
                self.base_channels
            ));
        }
        if self.channel_mults.is_empty() || self.channel_mults.contains(&0) {
            return invalid(format!(
                "channel_mults {:?} must be non-empty and positive",
                self.channel_mults
            ));
        }
        let levels = self.channel_mults.len() as u32;
        if !self.image_size.is_multiple_of(1 << (levels - 1)) || self.image_size >> (levels - 1) < 4
        {
            return invalid(format!(
                "image_size {} cannot be halved {} times down to at least 4 px",
                self.image_size,
                levels - 1
            ));
        }
        if self.res_blocks == 0 {
            return invalid("res_blocks is 0".to_owned());
        }
        if !(2..=4000).contains(&self.timesteps) {
            return invalid(format!("timesteps {} is outside 2..=4000", self.timesteps));
        }
        if self.steps == 0 {
            return invalid("steps is 0".to_owned());
        }
        if self.batch_size == 0 {
            return invalid("batch_size is 0".to_owned());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return invalid(format!("lr {} is not a positive number", self.lr));
        }
        if let Some(gamma) = self.min_snr_gamma
            && !(gamma.is_finite() && gamma > 0.0)
        {
            return invalid(format!("min_snr_gamma {gamma} is not a positive number"));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return invalid(format!("ema_decay {} is outside [0, 1)", self.ema_decay));
        }
        let sel = &self.selection;
        if sel.every == 0 || sel.samples < 2 || sel.ddim_steps == 0 {
            return invalid(format!(
                "selection needs every ≥ 1, samples ≥ 2 and ddim_steps ≥ 1, not {sel:?}"
            ));
        }
        validate_holdout(sel.holdout)
    }
}
