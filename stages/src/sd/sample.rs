//! Text-to-image sampling as diffusers' `StableDiffusionPipeline` does it for SD v1.x:
//! prompts through the tokenizer and text encoder, classifier-free guidance against the
//! empty prompt, deterministic DDIM or PNDM over the U-Net, the VAE decoding the latents
//! divided by its scaling factor, pixels mapped from [−1, 1] to [0, 1].

use burn::tensor::Tensor;

use super::folder::StableDiffusion;
use super::scheduler::{Ddim, Pndm};

/// The samplers of SD v1.x's pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdSampler {
    /// Deterministic DDIM (η = 0).
    Ddim,
    /// PNDM's PLMS steps (SD v1-4's default scheduler).
    Pndm,
}

/// Either sampler, stepped one timestep at a time (one lives per call: boxing the
/// larger would buy nothing).
#[allow(clippy::large_enum_variant)]
enum Stepper {
    Ddim(Ddim),
    Pndm(Pndm),
}

impl StableDiffusion {
    /// The text encoder's `last_hidden_state` for `prompts`, each encoded as the
    /// pipelines do (start token, padded or truncated to the tokenizer's length).
    pub fn encode_prompts(&self, prompts: &[&str]) -> Tensor<3> {
        let ids: Vec<Vec<u32>> = prompts.iter().map(|p| self.tokenizer.encode(p)).collect();
        self.text_encoder.forward(&ids)
    }

    /// Images [b, 3, H, W] in [0, 1] for `prompts` (b of them), from the initial
    /// `latents` [b, latent_channels, H / f, W / f] (f = 2^(VAE levels − 1); unit-variance
    /// noise, DDIM's initial scale being 1), with `steps` DDIM steps and classifier-free
    /// guidance of weight `guidance_scale` (7.5 in diffusers' pipelines).
    pub fn sample_ddim(
        &self,
        prompts: &[&str],
        latents: Tensor<4>,
        steps: usize,
        guidance_scale: f64,
    ) -> Tensor<4> {
        let latents = self.denoise(prompts, latents, SdSampler::Ddim, steps, guidance_scale);
        self.decode_latents(latents)
    }

    /// The final latents (scaled, as the U-Net sees them) for `prompts` from the initial
    /// `latents` with `steps` steps of `sampler` and classifier-free guidance.
    pub fn denoise(
        &self,
        prompts: &[&str],
        latents: Tensor<4>,
        sampler: SdSampler,
        steps: usize,
        guidance_scale: f64,
    ) -> Tensor<4> {
        let b = prompts.len();
        let unconditional = self.encode_prompts(&vec![""; b]);
        let context = Tensor::cat(vec![unconditional, self.encode_prompts(prompts)], 0);
        let mut stepper = match sampler {
            SdSampler::Ddim => Stepper::Ddim(Ddim::new(&self.scheduler, steps)),
            SdSampler::Pndm => Stepper::Pndm(Pndm::new(&self.scheduler, steps)),
        };
        let timesteps = match &stepper {
            Stepper::Ddim(ddim) => ddim.timesteps(),
            Stepper::Pndm(pndm) => pndm.timesteps(),
        };
        let mut x = latents;
        for t in timesteps {
            let both = Tensor::cat(vec![x.clone(), x.clone()], 0);
            let noise = self
                .unet
                .forward(both, &vec![t as f32; 2 * b], context.clone());
            let unconditional = noise.clone().narrow(0, 0, b);
            let text = noise.narrow(0, b, b);
            let guided = unconditional.clone() + (text - unconditional).mul_scalar(guidance_scale);
            x = match &mut stepper {
                Stepper::Ddim(ddim) => ddim.step(guided, t, x),
                Stepper::Pndm(pndm) => pndm.step(guided, t, x),
            };
        }
        x
    }

    /// Images [b, 3, H, W] in [0, 1] from scaled latents.
    pub fn decode_latents(&self, latents: Tensor<4>) -> Tensor<4> {
        let images = self
            .vae
            .decode(latents.div_scalar(self.vae_config.scaling_factor));
        images.div_scalar(2.0).add_scalar(0.5).clamp(0.0, 1.0)
    }
}
