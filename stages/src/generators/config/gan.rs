//! Config of `train.gan` (class-conditional StyleGAN2-style GAN) and its selection.

use serde::{Deserialize, Serialize};

use super::ddpm::{default_batch_size, default_ema, default_image_size, default_steps};
use super::validate_holdout;
use crate::StageError;

/// The generator network of `train.gan`. Saved in the generator artifact, so sampling
/// rebuilds it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StyleGanSpec {
    /// Latent and intermediate-latent widths.
    pub z_dim: usize,
    pub w_dim: usize,
    /// Fully connected layers of the mapping network.
    pub mapping_layers: usize,
    /// Channels at the output resolution; they double with every halving of the
    /// resolution, up to `max_channels`.
    pub base_channels: usize,
    pub max_channels: usize,
    /// Classes the generator is conditioned on (every class of the training set).
    pub num_classes: usize,
}

impl StyleGanSpec {
    /// Channels of the feature maps at side `res` of an `image_size`-px network.
    pub fn channels(&self, image_size: u32, res: u32) -> usize {
        let factor = (image_size / res.max(1)).max(1) as usize;
        (self.base_channels * factor).min(self.max_channels)
    }
}

/// Config of `train.gan`: one class-conditional StyleGAN2-style GAN for all classes, with
/// R1, generator EMA and adaptive discriminator augmentation, for small data sets.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GanConfig {
    /// Classes to train on (and keep a checkpoint entry for); default: every class.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// 32, 64, 128 or 256.
    #[serde(default = "default_image_size")]
    pub image_size: u32,
    #[serde(default = "default_gan_latent")]
    pub z_dim: usize,
    #[serde(default = "default_gan_latent")]
    pub w_dim: usize,
    #[serde(default = "default_mapping_layers")]
    pub mapping_layers: usize,
    /// Channels at the output resolution (generator and discriminator).
    #[serde(default = "default_gan_base_channels")]
    pub base_channels: usize,
    #[serde(default = "default_gan_max_channels")]
    pub max_channels: usize,
    /// Group size of the discriminator's minibatch-stddev feature; 0 turns it off.
    #[serde(default = "default_mbstd_group")]
    pub mbstd_group: usize,
    /// Optimiser steps (each one discriminator and one generator update).
    #[serde(default = "default_steps")]
    pub steps: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Adam's learning rates (β1 = 0, β2 = 0.99, as StyleGAN2).
    #[serde(default = "default_gan_lr")]
    pub lr_g: f64,
    #[serde(default = "default_gan_lr")]
    pub lr_d: f64,
    /// Decay of the moving average of the generator's weights that sampling uses.
    #[serde(default = "default_ema")]
    pub ema_decay: f64,
    /// R1 weight γ (the penalty is γ/2·‖∇D(real)‖²); 0 turns it off.
    #[serde(default = "default_r1_gamma")]
    pub r1_gamma: f64,
    /// R1 is applied every this many steps, scaled up to match (lazy regularisation).
    #[serde(default = "default_r1_interval")]
    pub r1_interval: usize,
    /// Mirror training images left-right with probability 0.5.
    /// Off by default: a mirrored chest radiograph (heart on the right) never occurs in
    /// the test set.
    #[serde(default)]
    pub hflip: bool,
    #[serde(default)]
    pub ada: AdaConfig,
    #[serde(default)]
    pub selection: GanSelectionConfig,
}

/// Adaptive discriminator augmentation (Karras et al. 2020): every `interval` steps,
/// r = E[sign(D(real))] over those steps moves the augmentation probability p by
/// ±batch·interval/(kimg·1000) towards r = `target`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AdaConfig {
    pub enabled: bool,
    pub target: f64,
    pub interval: usize,
    /// Thousands of real images over which p can move from 0 to 1.
    pub kimg: f64,
}

impl Default for AdaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            target: 0.6,
            interval: 4,
            kimg: 100.0,
        }
    }
}

/// Checkpoint selection for the GAN: every `every` steps (and at the last) the EMA
/// generator draws `samples` images per class, each class is scored against its held-out
/// real training images, and the checkpoint with the lowest mean score is kept.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GanSelectionConfig {
    pub every: usize,
    /// Fraction of each class's training images held out from GAN training (≥ 2 images);
    /// 0 keeps the last EMA weights.
    pub holdout: f64,
    pub samples: usize,
}

impl Default for GanSelectionConfig {
    fn default() -> Self {
        Self {
            every: 1000,
            holdout: 0.0,
            samples: 64,
        }
    }
}

fn default_gan_latent() -> usize {
    128
}
fn default_mapping_layers() -> usize {
    2
}
fn default_gan_base_channels() -> usize {
    32
}
fn default_gan_max_channels() -> usize {
    256
}
fn default_mbstd_group() -> usize {
    4
}
fn default_gan_lr() -> f64 {
    2e-3
}
fn default_r1_gamma() -> f64 {
    // StyleGAN2-ADA's heuristic 0.0002·side²/batch at 64 px, batch 16.
    0.05
}
fn default_r1_interval() -> usize {
    16
}

impl GanConfig {
    pub fn generator(&self, num_classes: usize) -> StyleGanSpec {
        StyleGanSpec {
            z_dim: self.z_dim,
            w_dim: self.w_dim,
            mapping_layers: self.mapping_layers,
            base_channels: self.base_channels,
            max_channels: self.max_channels,
            num_classes,
        }
    }

    pub fn validate(&self) -> Result<(), StageError> {
        let invalid = |msg: String| Err(StageError::InvalidConfig(msg));
        if ![32, 64, 128, 256].contains(&self.image_size) {
            return invalid(format!(
                "image_size {} is not one of 32, 64, 128, 256",
                self.image_size
            ));
        }
        for (name, value) in [("z_dim", self.z_dim), ("w_dim", self.w_dim)] {
            if !(1..=1024).contains(&value) {
                return invalid(format!("{name} {value} is outside 1..=1024"));
            }
        }
        if !(1..=8).contains(&self.mapping_layers) {
            return invalid(format!(
                "mapping_layers {} is outside 1..=8",
                self.mapping_layers
            ));
        }
        if !(1..=512).contains(&self.base_channels) {
            return invalid(format!(
                "base_channels {} is outside 1..=512",
                self.base_channels
            ));
        }
        if !(self.base_channels..=1024).contains(&self.max_channels) {
            return invalid(format!(
                "max_channels {} is outside base_channels..=1024",
                self.max_channels
            ));
        }
        if self.mbstd_group > 64 {
            return invalid(format!("mbstd_group {} is above 64", self.mbstd_group));
        }
        if self.steps == 0 {
            return invalid("steps is 0".to_owned());
        }
        if self.batch_size < 2 {
            return invalid(format!("batch_size {} is below 2", self.batch_size));
        }
        for (name, lr) in [("lr_g", self.lr_g), ("lr_d", self.lr_d)] {
            if !(lr.is_finite() && lr > 0.0) {
                return invalid(format!("{name} {lr} is not a positive number"));
            }
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return invalid(format!("ema_decay {} is outside [0, 1)", self.ema_decay));
        }
        if !(self.r1_gamma.is_finite() && self.r1_gamma >= 0.0) {
            return invalid(format!("r1_gamma {} is not a number ≥ 0", self.r1_gamma));
        }
        if self.r1_interval == 0 {
            return invalid("r1_interval is 0".to_owned());
        }
        let ada = &self.ada;
        if !(ada.target > 0.0 && ada.target < 1.0) {
            return invalid(format!("ada.target {} is outside (0, 1)", ada.target));
        }
        if ada.interval == 0 {
            return invalid("ada.interval is 0".to_owned());
        }
        if !(ada.kimg.is_finite() && ada.kimg > 0.0) {
            return invalid(format!("ada.kimg {} is not a positive number", ada.kimg));
        }
        let sel = &self.selection;
        if sel.every == 0 || sel.samples < 2 {
            return invalid(format!(
                "selection needs every ≥ 1 and samples ≥ 2, not {sel:?}"
            ));
        }
        validate_holdout(sel.holdout)
    }
}
