//! Unconditional DDPM per class (Ho et al. 2020), as the study trained with diffusers:
//! a U-Net noise predictor, linear or cosine schedule, EMA weights, and DDPM or DDIM
//! sampling.

pub(crate) mod sample;
pub mod schedule;
mod train;
pub(crate) mod unet;

pub use train::{DdpmProgress, train_ddpm};

use burn::module::Module;
use burn::tensor::Device;

use crate::generators::DdpmConfig;

/// Parameter count of the U-Net [`train_ddpm`] builds for `cfg`. Only for the
/// Burn-vs-PyTorch benchmark (`stages/benches/generator_step.rs`), which checks its
/// PyTorch twin against it.
#[doc(hidden)]
pub fn parameter_count(cfg: &DdpmConfig) -> usize {
    unet::UNet::new(&cfg.unet(), cfg.image_size, &Device::flex()).num_params()
}
