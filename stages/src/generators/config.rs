//! Typed configs of the generator stages. User YAML is parsed into these (unknown keys
//! rejected) before any Burn module exists.

use serde::{Deserialize, Serialize};

use crate::StageError;

/// Smallest and largest generated image side.
pub const MIN_GEN_SIZE: u32 = 16;
pub const MAX_GEN_SIZE: u32 = 256;

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

fn default_image_size() -> u32 {
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
fn default_steps() -> usize {
    20_000
}
fn default_batch_size() -> usize {
    16
}
fn default_lr() -> f64 {
    2e-4
}
fn default_ema() -> f64 {
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
        if !(0.0..1.0).contains(&self.ema_decay) {
            return invalid(format!("ema_decay {} is outside [0, 1)", self.ema_decay));
        }
        let sel = &self.selection;
        if sel.every == 0 || sel.samples < 2 || sel.ddim_steps == 0 {
            return invalid(format!(
                "selection needs every ≥ 1, samples ≥ 2 and ddim_steps ≥ 1, not {sel:?}"
            ));
        }
        if !(sel.holdout == 0.0 || (sel.holdout > 0.0 && sel.holdout < 0.5)) {
            return invalid(format!(
                "selection.holdout {} is neither 0 (keep the last EMA weights) nor in (0, 0.5)",
                sel.holdout
            ));
        }
        Ok(())
    }
}

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
        if !(sel.holdout == 0.0 || (sel.holdout > 0.0 && sel.holdout < 0.5)) {
            return invalid(format!(
                "selection.holdout {} is neither 0 (keep the last EMA weights) nor in (0, 0.5)",
                sel.holdout
            ));
        }
        Ok(())
    }
}

pub(crate) fn validate_size(size: u32) -> Result<(), StageError> {
    if !(MIN_GEN_SIZE..=MAX_GEN_SIZE).contains(&size) {
        return Err(StageError::InvalidConfig(format!(
            "image_size {size} is outside {MIN_GEN_SIZE}..={MAX_GEN_SIZE}"
        )));
    }
    Ok(())
}

/// How `sample` draws from a diffusion model.
#[derive(
    Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// Ancestral sampling over all T steps (Ho et al. 2020), or over `steps` respaced as
    /// diffusers' `DDPMScheduler.set_timesteps(steps)` (the study used 250).
    Ddpm,
    /// Deterministic DDIM (η = 0) over `steps` evenly spaced steps (Song et al. 2021).
    #[default]
    Ddim,
}

/// The families of generators `sample` draws from; each takes its own params.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorFamily {
    Gan,
    /// A per-class pixel DDPM.
    Ddpm,
    /// A latent diffusion model (base, fine-tune, DreamBooth, merged LoRA).
    Latent,
    /// A `train.lora` generator: adapters over its base.
    LatentLora,
}

impl GeneratorFamily {
    pub fn describe(self) -> &'static str {
        match self {
            GeneratorFamily::Gan => "a GAN",
            GeneratorFamily::Ddpm => "a pixel DDPM",
            GeneratorFamily::Latent => "a latent diffusion generator without LoRA adapters",
            GeneratorFamily::LatentLora => "a LoRA generator",
        }
    }
}

/// Config of `sample`: N images per class from a trained generator.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Images per class.
    pub n: usize,
    /// Classes to sample; default: every class the generator has.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    #[serde(default = "default_sample_batch")]
    pub batch_size: usize,
    /// Diffusion models only (default `ddim`).
    #[serde(default)]
    pub sampler: Option<Sampler>,
    /// Diffusion models only: DDIM steps (default 50), or DDPM steps (default T, every
    /// step; fewer respace the schedule as diffusers does).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Latent diffusion only: the prompt (`{class}` stands for the class name) instead of
    /// the generator's own prompt of each class.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Latent diffusion only: the classifier-free guidance scale (default 3; 1 = the
    /// conditional prediction alone).
    #[serde(default)]
    pub guidance: Option<f64>,
    /// LoRA generators only: the adapters' scale (default 1; 0 = the base model).
    #[serde(default)]
    pub lora_scale: Option<f64>,
    /// Params for pixel DDPMs only, so one `sample` stage can draw from a matrix of
    /// generators of different families (e.g. `ddpm: {sampler: ddpm, steps: 250}`).
    #[serde(default)]
    pub ddpm: Option<FamilyParams>,
    /// Params for latent diffusion generators only.
    #[serde(default)]
    pub latent: Option<FamilyParams>,
}

/// The params of `sample` that apply to some generator families only.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyParams {
    #[serde(default)]
    pub sampler: Option<Sampler>,
    #[serde(default)]
    pub steps: Option<usize>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub guidance: Option<f64>,
    #[serde(default)]
    pub lora_scale: Option<f64>,
}

fn default_sample_batch() -> usize {
    32
}
const DEFAULT_DDIM_STEPS: usize = 50;

impl SampleConfig {
    pub fn sampler(&self) -> Sampler {
        self.sampler.unwrap_or_default()
    }

    /// The sampling steps over a `timesteps`-step diffusion: `steps`, or the sampler's
    /// default. DDPM refuses more steps than T, as diffusers does.
    pub fn steps_for(&self, timesteps: usize) -> Result<usize, StageError> {
        match (self.sampler(), self.steps) {
            (Sampler::Ddim, steps) => Ok(steps.unwrap_or(DEFAULT_DDIM_STEPS)),
            (Sampler::Ddpm, None) => Ok(timesteps),
            (Sampler::Ddpm, Some(steps)) if steps <= timesteps => Ok(steps),
            (Sampler::Ddpm, Some(steps)) => Err(StageError::InvalidConfig(format!(
                "steps {steps} is more than the generator's {timesteps} diffusion steps; \
                 DDPM sampling can only skip steps"
            ))),
        }
    }

    /// The config a generator of `family` draws with: the common params plus the
    /// family's own section (`ddpm` or `latent`). A param given in both is an error.
    pub fn for_family(&self, family: GeneratorFamily) -> Result<SampleConfig, StageError> {
        self.merged(family)
            .map_err(|(_, why)| StageError::InvalidConfig(why))
    }

    fn merged(&self, family: GeneratorFamily) -> Result<SampleConfig, (&'static str, String)> {
        let section = match family {
            GeneratorFamily::Gan => None,
            GeneratorFamily::Ddpm => self.ddpm.as_ref(),
            GeneratorFamily::Latent | GeneratorFamily::LatentLora => self.latent.as_ref(),
        };
        let mut out = SampleConfig {
            ddpm: None,
            latent: None,
            ..self.clone()
        };
        let Some(section) = section else {
            return Ok(out);
        };
        fn merge<T: Clone>(
            name: &'static str,
            common: &mut Option<T>,
            own: &Option<T>,
        ) -> Result<(), (&'static str, String)> {
            match (common.is_some(), own) {
                (true, Some(_)) => Err((
                    name,
                    format!(
                        "`{name}` is given both for every generator and in a family section; \
                         give it once"
                    ),
                )),
                (_, Some(value)) => {
                    *common = Some(value.clone());
                    Ok(())
                }
                (_, None) => Ok(()),
            }
        }
        merge("sampler", &mut out.sampler, &section.sampler)?;
        merge("steps", &mut out.steps, &section.steps)?;
        merge("prompt", &mut out.prompt, &section.prompt)?;
        merge("guidance", &mut out.guidance, &section.guidance)?;
        merge("lora_scale", &mut out.lora_scale, &section.lora_scale)?;
        Ok(out)
    }

    /// Checks what can be checked without the generator: a family section holds only
    /// params of that family.
    fn check_sections(&self) -> Result<(), StageError> {
        let sections = [
            ("ddpm", &self.ddpm, GeneratorFamily::Ddpm),
            ("latent", &self.latent, GeneratorFamily::LatentLora),
        ];
        for (name, section, family) in sections {
            let Some(section) = section else { continue };
            let probe = SampleConfig {
                sampler: section.sampler,
                steps: section.steps,
                prompt: section.prompt.clone(),
                guidance: section.guidance,
                lora_scale: section.lora_scale,
                ddpm: None,
                latent: None,
                ..self.clone()
            };
            if let Some((_, why)) = probe.misapplied(family) {
                return Err(StageError::InvalidConfig(format!("in `{name}`: {why}")));
            }
            if section.steps == Some(0) {
                return Err(StageError::InvalidConfig(format!(
                    "in `{name}`: steps must be positive"
                )));
            }
            if let Some(guidance) = section.guidance {
                super::latent::config::check_guidance(guidance)?;
            }
        }
        Ok(())
    }

    /// The first param that does not apply to `family`, with why: such a param is an
    /// error, never silently ignored. Family sections are merged in first.
    pub fn misapplied(&self, family: GeneratorFamily) -> Option<(&'static str, String)> {
        if self.ddpm.is_some() || self.latent.is_some() {
            return match self.merged(family) {
                Ok(merged) => merged.misapplied(family),
                Err(conflict) => Some(conflict),
            };
        }
        let set: [(&'static str, bool, bool); 5] = [
            // (param, given, applies)
            (
                "sampler",
                self.sampler.is_some(),
                family != GeneratorFamily::Gan,
            ),
            (
                "steps",
                self.steps.is_some(),
                family != GeneratorFamily::Gan,
            ),
            (
                "prompt",
                self.prompt.is_some(),
                matches!(
                    family,
                    GeneratorFamily::Latent | GeneratorFamily::LatentLora
                ),
            ),
            (
                "guidance",
                self.guidance.is_some(),
                matches!(
                    family,
                    GeneratorFamily::Latent | GeneratorFamily::LatentLora
                ),
            ),
            (
                "lora_scale",
                self.lora_scale.is_some(),
                family == GeneratorFamily::LatentLora,
            ),
        ];
        set.into_iter()
            .find(|(_, given, applies)| *given && !applies)
            .map(|(name, _, _)| {
                (
                    name,
                    format!(
                        "`{name}` does not apply to {}; remove it",
                        family.describe()
                    ),
                )
            })
    }

    pub fn validate(&self) -> Result<(), StageError> {
        if self.n == 0 || self.n > 100_000 {
            return Err(StageError::InvalidConfig(format!(
                "n {} is outside 1..=100000",
                self.n
            )));
        }
        if self.batch_size == 0 || self.steps == Some(0) {
            return Err(StageError::InvalidConfig(format!(
                "batch_size {} and steps {} must be positive",
                self.batch_size,
                self.steps.unwrap_or(DEFAULT_DDIM_STEPS)
            )));
        }
        if let Some(guidance) = self.guidance {
            super::latent::config::check_guidance(guidance)?;
        }
        self.check_sections()?;
        if let Some(scale) = self.lora_scale
            && !(scale.is_finite() && (0.0..=10.0).contains(&scale))
        {
            return Err(StageError::InvalidConfig(format!(
                "lora_scale {scale} is outside 0..=10"
            )));
        }
        Ok(())
    }
}
