//! Stable Diffusion v1.x, read from the diffusers folder layout as published
//! (`tokenizer/`, `text_encoder/`, `vae/`, `unet/`, `scheduler/`).
//!
//! - [`tokenizer`]: CLIP's byte-level BPE tokenizer from `vocab.json` + `merges.txt`.
//! - [`clip`]: CLIP's text encoder from `text_encoder/config.json` + `model.safetensors`.
//! - [`vae`]: `AutoencoderKL` from `vae/config.json`.
//! - [`unet`]: `UNet2DConditionModel` from `unet/config.json` (SD v2.x and SDXL refused).
//! - [`scheduler`]: the beta schedule, PNDM and DDIM as diffusers has them for SD v1.x.
//! - `sample`: text-to-image with DDIM and classifier-free guidance
//!   ([`StableDiffusion::sample_ddim`]).
//! - [`folder`]: the whole folder, checked before any weights are read.
//! - [`weights`]: loading transformers/diffusers-named safetensors into Burn modules, every
//!   tensor checked.

mod blocks;
pub mod clip;
mod files;
pub mod folder;
mod sample;
pub mod scheduler;
pub mod tokenizer;
pub mod unet;
mod unet_config;
pub mod vae;
pub mod weights;

pub use clip::{ClipTextConfig, ClipTextModel};
pub use folder::{SdConfigs, SdFolder, StableDiffusion};
pub use sample::SdSampler;
pub use tokenizer::ClipTokenizer;
pub use unet::UNet2DCondition;
pub use unet_config::{BlockLayout, UNetConfig};
pub use vae::{AutoencoderKl, VaeConfig};
