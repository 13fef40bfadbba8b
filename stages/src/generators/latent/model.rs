//! The conditional noise predictor (prompt encoder + latent U-Net), classifier-free
//! guidance, and loading a latent generator's networks from its artifact.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::config::{LatentSpec, LatentUNetSpec, TextSpec};
use super::files::{TEXT_WEIGHTS, dreambooth_text_encoder};
use super::text::TextEncoder;
use super::unet::LatentUNet;
use super::vocab::tokenize;
use crate::StageError;
use crate::generators::ddpm::sample::NoisePredictor;
use crate::init::{InitPolicy, SeededInit};
use crate::weights::load_module;

#[derive(Module, Debug)]
pub struct LatentDiffusion {
    pub text: TextEncoder,
    pub unet: LatentUNet,
}

impl LatentDiffusion {
    /// A freshly initialised model (seeded: PyTorch's default init for convs and linears,
    /// N(0, 0.02²) embedding tables).
    pub fn new(
        text: &TextSpec,
        unet: &LatentUNetSpec,
        latent_channels: usize,
        latent_size: u32,
        seed: u64,
        device: &Device,
    ) -> Self {
        Self {
            text: TextEncoder::new(text, seed, device),
            unet: LatentUNet::new(unet, latent_channels, latent_size, device),
        }
        .map(&mut SeededInit::new(seed, InitPolicy::TorchDefault))
    }

    /// ε̂ for latents `x` at steps `t` with token rows `tokens` (one per image).
    pub fn forward(&self, x: Tensor<4>, t: &[usize], tokens: &[Vec<usize>]) -> Tensor<4> {
        let context = self.text.forward(tokens);
        self.unet.forward(x, t, context)
    }
}

/// The text encoder file of `class` in a latent generator.
pub fn text_weights(spec: &LatentSpec, class: &str) -> String {
    if spec.text_per_class {
        dreambooth_text_encoder(class)
    } else {
        TEXT_WEIGHTS.to_owned()
    }
}

/// Builds the model of `spec` (shapes only) and loads the text encoder from `text` and
/// the U-Net from `unet`.
pub fn load_model(
    spec: &LatentSpec,
    text: &Path,
    unet: &Path,
    device: &Device,
) -> Result<LatentDiffusion, StageError> {
    let ae = &spec.autoencoder;
    let model = LatentDiffusion::new(
        &spec.text,
        &spec.unet,
        ae.latent_channels,
        ae.latent_size(),
        0,
        device,
    );
    Ok(LatentDiffusion {
        text: load_module(model.text, text)?,
        unet: load_module(model.unet, unet)?,
    })
}

/// A prompt's token row for `spec`'s vocabulary.
pub fn prompt_tokens(spec: &TextSpec, prompt: &str) -> Result<Vec<usize>, StageError> {
    tokenize(prompt, &spec.vocabulary, spec.context_length)
}

/// Classifier-free guidance (Ho & Salimans 2022): ε̂ = ε̂(∅) + g·(ε̂(c) − ε̂(∅)). At
/// g = 1 this is ε̂(c), computed as such (no unconditional pass).
pub struct Guided<'a> {
    pub model: &'a LatentDiffusion,
    /// Context [1, m, d] of the prompt and of the empty prompt.
    pub cond: Tensor<3>,
    pub uncond: Tensor<3>,
    pub guidance: f64,
}

impl<'a> Guided<'a> {
    pub fn new(model: &'a LatentDiffusion, tokens: &[usize], guidance: f64) -> Guided<'a> {
        let empty = vec![0; tokens.len()];
        Guided {
            model,
            cond: model.text.forward(&[tokens.to_vec()]),
            uncond: model.text.forward(&[empty]),
            guidance,
        }
    }
}

impl NoisePredictor for Guided<'_> {
    fn predict(&self, x: Tensor<4>, t: &[usize]) -> Tensor<4> {
        let b = x.dims()[0];
        let cond = self.cond.clone().repeat_dim(0, b);
        if self.guidance == 1.0 {
            return self.model.unet.forward(x, t, cond);
        }
        let uncond = self.uncond.clone().repeat_dim(0, b);
        let both_t: Vec<usize> = t.iter().chain(t).copied().collect();
        let eps = self.model.unet.forward(
            Tensor::cat(vec![x.clone(), x], 0),
            &both_t,
            Tensor::cat(vec![uncond, cond], 0),
        );
        let e_u = eps.clone().narrow(0, 0, b);
        let e_c = eps.narrow(0, b, b);
        e_u.clone() + (e_c - e_u).mul_scalar(self.guidance)
    }
}
