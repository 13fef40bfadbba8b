//! Class-prompted latent diffusion, as the study adapted Stable Diffusion v1-4, built from
//! scratch at a small scale (weights can be imported through the stages' `init` params):
//!
//! - [`train_autoencoder`]: a KL-regularised autoencoder to a latent grid 4× or 8× smaller;
//! - [`train_diffusion_base`]: a prompt encoder and a cross-attention latent U-Net,
//!   pretrained on every training image with a generic prompt and classifier-free
//!   guidance dropout;
//! - three adaptations of that base: [`train_finetune`] (the whole U-Net, class
//!   prompts), [`train_lora`] (adapters only; the artifact holds the adapters and the
//!   base's digest) and [`train_dreambooth`] (a U-Net per class with a rare-token prompt
//!   and prior preservation); [`merge_lora`] merges LoRA adapters into a self-contained
//!   generator;
//! - sampling with a prompt, guidance scale and DDIM/DDPM, through `sample_generator`.

mod ae_train;
pub mod autoencoder;
pub mod config;
mod dreambooth;
pub mod files;
pub mod lora;
mod merge;
pub mod model;
pub(crate) mod sample;
pub(crate) mod stages;
#[cfg(test)]
mod tests;
pub mod text;
pub(crate) mod train;
pub mod unet;
pub mod vocab;

pub use ae_train::{load_autoencoder, train_autoencoder};
pub use config::{
    AutoencoderConfig, AutoencoderSpec, DiffusionBaseConfig, DreamboothConfig, FinetuneConfig,
    LatentMethod, LatentSpec, LatentUNetSpec, LoraConfig, LoraSpec, TextSpec,
};
pub use dreambooth::train_dreambooth;
pub use files::{AUTOENCODER_FILE, AutoencoderFile, Reconstruction, base_digest};
pub use merge::{MergeLoraConfig, merge_lora};
pub use stages::{AdaptIo, BaseInputs, train_diffusion_base, train_finetune, train_lora};

use burn::tensor::Tensor;
use serde::Serialize;

use crate::StageError;

/// Progress of a latent stage; the trainers never print.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LatentProgress {
    /// After each optimiser step (counted from 1) of a training phase ("autoencoder",
    /// "base", "finetune", "lora", "dreambooth <class>").
    Step {
        phase: String,
        step: usize,
        steps: usize,
        loss: f32,
    },
    /// While the base draws DreamBooth's prior images.
    Prior {
        class: String,
        done: usize,
        total: usize,
    },
}

pub(crate) use super::artifact::{LOSS_WINDOW, LossWindow};

pub(crate) fn scalar(loss: &Tensor<1>) -> Result<f32, StageError> {
    loss.clone()
        .try_into_scalar::<f32>()
        .map_err(|err| StageError::Backend(format!("read a loss from the device: {err}")))
}

/// Rows of size² pixels, mirrored left-right where `flips` says so.
pub(crate) fn flip_rows(rows: &[&[f32]], flips: &[bool], size: usize) -> Vec<Vec<f32>> {
    rows.iter()
        .zip(flips)
        .map(|(row, &flip)| {
            if flip {
                row.chunks_exact(size)
                    .flat_map(|line| line.iter().rev().copied())
                    .collect()
            } else {
                row.to_vec()
            }
        })
        .collect()
}
