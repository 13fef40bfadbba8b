//! Generators of synthetic training images, on Burn: the per-class DDPM, the
//! class-conditional GAN, checkpoint selection against held-out real training images, and
//! sampling N images per class into an image set whose records say which generator made
//! them.

mod artifact;
mod config;
pub mod ddpm;
mod ema;
pub mod gan;
mod images;
pub mod latent;
mod sample;
pub mod sd;
pub mod select;
mod unet;

use std::path::Path;

use crate::{StageError, StageIo};

pub use artifact::{Checkpoint, GENERATOR_FILE, GENERATOR_FORMAT, GeneratorFile, GeneratorSpec};
pub use config::{
    AdaConfig, DdpmConfig, GanConfig, GanSelectionConfig, GeneratorFamily, MAX_GEN_SIZE,
    MIN_GEN_SIZE, NoiseSchedule, SampleConfig, Sampler, SelectionConfig, StyleGanSpec, UNetSpec,
};
pub use ddpm::{DdpmProgress, train_ddpm};
pub use gan::{GanProgress, train_gan};
pub use sample::{SampleProgress, sample_generator, sample_generator_with_base};

/// What a pixel-space family ([`train_ddpm`], [`train_gan`]) trains from.
#[derive(Debug, Clone, Copy)]
pub struct TrainInputs<'a> {
    /// The real training image set.
    pub train: &'a Path,
    /// A classifier trained on real images: with `selection.holdout` above 0, checkpoints
    /// are scored in its penultimate layer instead of pooled pixels ([`select`]).
    pub features: Option<&'a Path>,
}

impl<'a> TrainInputs<'a> {
    /// Training images only: checkpoints (if any) are scored in pooled pixels.
    pub fn images(train: &'a Path) -> Self {
        Self {
            train,
            features: None,
        }
    }
}

/// The stage function of a pixel-space family ([`train_ddpm`], [`train_gan`]): config,
/// seed, inputs, empty output folder, device, progress, cancel flag.
pub type TrainFn<C, P> =
    fn(&C, u64, TrainInputs<'_>, &StageIo<'_, P>) -> Result<GeneratorFile, StageError>;
