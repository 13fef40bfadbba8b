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
use std::sync::atomic::AtomicBool;

use crate::StageError;
use crate::backend::SelectedDevice;

pub use artifact::{Checkpoint, GENERATOR_FILE, GENERATOR_FORMAT, GeneratorFile, GeneratorSpec};
pub use config::{
    AdaConfig, DdpmConfig, GanConfig, GanSelectionConfig, GeneratorFamily, MAX_GEN_SIZE,
    MIN_GEN_SIZE, NoiseSchedule, SampleConfig, Sampler, SelectionConfig, StyleGanSpec, UNetSpec,
};
pub use ddpm::{DdpmProgress, train_ddpm};
pub use gan::{GanProgress, train_gan};
pub use sample::{SampleProgress, sample_generator, sample_generator_with_base};

/// The stage function of a pixel-space family ([`train_ddpm`], [`train_gan`]): config,
/// seed, training images, empty output folder, device, progress, cancel flag.
pub type TrainFn<C, P> = fn(
    &C,
    u64,
    &Path,
    &Path,
    &SelectedDevice,
    &dyn Fn(P),
    &AtomicBool,
) -> Result<GeneratorFile, StageError>;
