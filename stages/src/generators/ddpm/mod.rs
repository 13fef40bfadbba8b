//! Unconditional DDPM per class (Ho et al. 2020), as the study trained with diffusers:
//! a U-Net noise predictor, linear or cosine schedule, EMA weights, and DDPM or DDIM
//! sampling.

pub(crate) mod sample;
pub mod schedule;
mod train;
pub(crate) mod unet;

pub use train::{DdpmProgress, train_ddpm};
