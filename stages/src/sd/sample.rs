//! Text-to-image sampling as diffusers' `StableDiffusionPipeline` does it for SD v1.x:
//! prompts through the tokenizer and text encoder, classifier-free guidance against the
//! empty prompt, deterministic DDIM over the U-Net, the VAE decoding the latents divided
//! by its scaling factor, pixels mapped from [−1, 1] to [0, 1].

use burn::tensor::Tensor;

use super::folder::StableDiffusion;
use super::scheduler::Ddim;

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
        let b = prompts.len();
        let unconditional = self.encode_prompts(&vec![""; b]);
        let context = Tensor::cat(vec![unconditional, self.encode_prompts(prompts)], 0);
        let ddim = Ddim::new(&self.scheduler, steps);
        let mut x = latents;
        for t in ddim.timesteps() {
            let both = Tensor::cat(vec![x.clone(), x.clone()], 0);
            let noise = self
                .unet
                .forward(both, &vec![t as f32; 2 * b], context.clone());
            let unconditional = noise.clone().narrow(0, 0, b);
            let text = noise.narrow(0, b, b);
            let guided = unconditional.clone() + (text - unconditional).mul_scalar(guidance_scale);
            x = ddim.step(guided, t, x);
        }
        let images = self
            .vae
            .decode(x.div_scalar(self.vae_config.scaling_factor));
        images.div_scalar(2.0).add_scalar(0.5).clamp(0.0, 1.0)
    }
}
