//! The trained-generator artifact: `generator.json` (how to rebuild the networks and which
//! checkpoint was chosen) beside one safetensors file per network.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::{NoiseSchedule, StyleGanSpec, UNetSpec};
use super::latent::{LatentMethod, LatentSpec};
use super::sd::SdSpec;
use crate::StageError;
use crate::json_file::{read_versioned, write_json};

pub const GENERATOR_FILE: &str = "generator.json";
/// Version of `generator.json`; readers reject any other.
pub const GENERATOR_FORMAT: u32 = 1;

/// Training losses are recorded as means over this many steps (`loss_every`).
pub(crate) const LOSS_WINDOW: usize = 10;

/// A per-step loss series as the means of its windows of [`LOSS_WINDOW`] steps (the last
/// window may be shorter).
#[derive(Default)]
pub(crate) struct LossWindow {
    sum: f32,
    len: usize,
    means: Vec<f32>,
}

impl LossWindow {
    pub fn push(&mut self, value: f32, last: bool) {
        self.sum += value;
        self.len += 1;
        if self.len == LOSS_WINDOW || last {
            self.means.push(self.sum / self.len as f32);
            (self.sum, self.len) = (0.0, 0);
        }
    }

    pub fn into_means(self) -> Vec<f32> {
        self.means
    }
}

/// The network family and its shape.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "family", rename_all = "snake_case", deny_unknown_fields)]
pub enum GeneratorSpec {
    /// One unconditional DDPM per class.
    Ddpm {
        unet: UNetSpec,
        schedule: NoiseSchedule,
        timesteps: usize,
    },
    /// One class-conditional StyleGAN2-style GAN for every class; the artifact holds its
    /// EMA generator only.
    Gan { generator: StyleGanSpec },
    /// Prompt-conditioned latent diffusion (autoencoder, text encoder, U-Net), made by
    /// `train.diffusion_base`, `train.finetune`, `train.lora` or `train.dreambooth`.
    Latent { latent: Box<LatentSpec> },
    /// Stable Diffusion v1.x imported from a diffusers folder (`import.stable_diffusion`)
    /// or adapted (`train.sd_finetune`, `train.sd_lora`, `train.sd_dreambooth`).
    StableDiffusion { sd: SdSpec },
}

impl GeneratorSpec {
    /// The name synthetic images are marked with (`synthetic:<name>`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ddpm { .. } => "ddpm",
            Self::Gan { .. } => "gan",
            Self::Latent { latent } => match latent.method {
                LatentMethod::Base => "diffusion_base",
                LatentMethod::Finetune => "finetune",
                LatentMethod::Lora | LatentMethod::MergedLora => "lora",
                LatentMethod::Dreambooth => "dreambooth",
            },
            Self::StableDiffusion { sd } => sd.name(),
        }
    }
}

/// The checkpoint kept for one class's network (a conditional GAN has one entry per
/// class, all naming the same weights, step and mean score).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The class this network generates.
    pub class: String,
    /// File name inside the artifact.
    pub weights: String,
    /// Optimiser step the weights are from (counted from 1).
    pub step: usize,
    /// The selection score (KID, lower is better) and every checkpoint's, by step.
    pub score: f64,
    pub scores: Vec<(usize, f64)>,
    /// Each checkpoint's spread of the score, by step (see `select`): a kept checkpoint
    /// beats another only by more than a few spreads. Absent in files written before
    /// spreads were recorded and when nothing was scored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spreads: Vec<(usize, f64)>,
    /// Real training images of the class the network trained on / held out for selection.
    pub train_images: usize,
    pub holdout_images: usize,
}

impl Checkpoint {
    /// The weights of a generator trained without checkpoint selection (the latent and
    /// SD families): the last step, score 0, no scores, nothing held out.
    pub(crate) fn last_step(
        class: &str,
        weights: String,
        step: usize,
        train_images: usize,
    ) -> Self {
        Self {
            class: class.to_owned(),
            weights,
            step,
            score: 0.0,
            scores: Vec::new(),
            spreads: Vec::new(),
            train_images,
            holdout_images: 0,
        }
    }
}

/// Contents of `generator.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeneratorFile {
    pub format: u32,
    pub spec: GeneratorSpec,
    pub image_size: u32,
    /// Every class of the training set, in label order (sampled sets keep this order).
    pub classes: Vec<String>,
    pub checkpoints: Vec<Checkpoint>,
    /// Per-step training series, averaged over `loss_every` steps: each DDPM's loss under
    /// its class's name; for the GAN "g" and "d" (its two losses, without R1) and, with
    /// ADA, "ada_p" (the augmentation probability).
    pub loss_every: usize,
    pub losses: Vec<(String, Vec<f32>)>,
}

impl GeneratorFile {
    pub fn read(dir: &Path) -> Result<Self, StageError> {
        read_versioned(
            &dir.join(GENERATOR_FILE),
            GENERATOR_FORMAT,
            |file: &Self| file.format,
        )
    }

    pub fn write(&self, dir: &Path) -> Result<(), StageError> {
        write_json(&dir.join(GENERATOR_FILE), self)
    }

    /// Writes the `generator.json` of a newly trained generator into `dir`, its losses
    /// windowed by [`LOSS_WINDOW`] steps.
    pub(crate) fn write_new(
        dir: &Path,
        spec: GeneratorSpec,
        image_size: u32,
        classes: Vec<String>,
        checkpoints: Vec<Checkpoint>,
        losses: Vec<(String, Vec<f32>)>,
    ) -> Result<Self, StageError> {
        let file = Self {
            format: GENERATOR_FORMAT,
            spec,
            image_size,
            classes,
            checkpoints,
            loss_every: LOSS_WINDOW,
            losses,
        };
        file.write(dir)?;
        Ok(file)
    }
}
