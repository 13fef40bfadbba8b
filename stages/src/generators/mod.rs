//! Generators of synthetic training images, on Burn: the per-class DDPM, checkpoint
//! selection against held-out real training images, and sampling N images per class into
//! an image set whose records say which generator made them.

mod artifact;
mod config;
pub mod ddpm;
mod ema;
mod images;
mod sample;
pub mod select;
mod weights;

pub use artifact::{Checkpoint, GENERATOR_FILE, GENERATOR_FORMAT, GeneratorFile, GeneratorSpec};
pub use config::{
    DdpmConfig, MAX_GEN_SIZE, MIN_GEN_SIZE, NoiseSchedule, SampleConfig, Sampler, SelectionConfig,
    UNetSpec,
};
pub use ddpm::{DdpmProgress, train_ddpm};
pub use sample::{SampleProgress, sample_generator};
