//! The KL-regularised convolutional autoencoder of latent diffusion (Rombach et al. 2022),
//! scaled down: residual blocks with GroupNorm, stride-2 convs down and nearest ×2 + conv
//! up, a diagonal Gaussian posterior q(z|x) = N(μ, σ²) over a `latent_channels` grid
//! `factor` times smaller than the image.

use burn::module::Module;
use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use super::config::AutoencoderSpec;
use crate::generators::unet::{conv1, conv3, group_norm, upsample_nearest};

#[derive(Module, Debug)]
pub struct AeBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    norm2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl AeBlock {
    fn new(in_ch: usize, out_ch: usize, device: &Device) -> Self {
        Self {
            norm1: group_norm(in_ch, device),
            conv1: conv3([in_ch, out_ch], 1, device),
            norm2: group_norm(out_ch, device),
            conv2: conv3([out_ch, out_ch], 1, device),
            skip: (in_ch != out_ch).then(|| conv1([in_ch, out_ch], device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        let skip = match &self.skip {
            Some(conv) => conv.forward(x),
            None => x,
        };
        skip + h
    }
}

#[derive(Module, Debug)]
pub struct Encoder {
    conv_in: Conv2d,
    blocks: Vec<AeBlock>,
    downs: Vec<Conv2d>,
    mid: AeBlock,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

#[derive(Module, Debug)]
pub struct Decoder {
    conv_in: Conv2d,
    mid: AeBlock,
    ups: Vec<Conv2d>,
    blocks: Vec<AeBlock>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

#[derive(Module, Debug)]
pub struct Autoencoder {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl Autoencoder {
    pub fn new(spec: &AutoencoderSpec, device: &Device) -> Self {
        let levels = spec.levels();
        let top = spec.channels(levels);
        let z = spec.latent_channels;
        let encoder = Encoder {
            conv_in: conv3([1, spec.channels(0)], 1, device),
            blocks: (0..levels)
                .map(|i| AeBlock::new(spec.channels(i), spec.channels(i), device))
                .collect(),
            downs: (0..levels)
                .map(|i| conv3([spec.channels(i), spec.channels(i + 1)], 2, device))
                .collect(),
            mid: AeBlock::new(top, top, device),
            norm_out: group_norm(top, device),
            conv_out: conv3([top, 2 * z], 1, device),
        };
        let decoder = Decoder {
            conv_in: conv3([z, top], 1, device),
            mid: AeBlock::new(top, top, device),
            ups: (0..levels)
                .rev()
                .map(|i| conv3([spec.channels(i + 1), spec.channels(i)], 1, device))
                .collect(),
            blocks: (0..levels)
                .rev()
                .map(|i| AeBlock::new(spec.channels(i), spec.channels(i), device))
                .collect(),
            norm_out: group_norm(spec.channels(0), device),
            conv_out: conv3([spec.channels(0), 1], 1, device),
        };
        Self { encoder, decoder }
    }

    /// The posterior's mean and log-variance (clamped to [−30, 20] as the reference code
    /// does), each [b, z, s/f, s/f], for images [b, 1, s, s] in [−1, 1].
    pub fn encode(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let e = &self.encoder;
        let mut h = e.conv_in.forward(x);
        for (block, down) in e.blocks.iter().zip(&e.downs) {
            h = down.forward(block.forward(h));
        }
        h = e.mid.forward(h);
        let moments = e.conv_out.forward(silu(e.norm_out.forward(h)));
        let z = moments.dims()[1] / 2;
        let mean = moments.clone().narrow(1, 0, z);
        let logvar = moments.narrow(1, z, z).clamp(-30.0, 20.0);
        (mean, logvar)
    }

    /// Images [b, 1, s, s] (unclipped) from latents [b, z, s/f, s/f].
    pub fn decode(&self, z: Tensor<4>) -> Tensor<4> {
        let d = &self.decoder;
        let mut h = d.mid.forward(d.conv_in.forward(z));
        for (up, block) in d.ups.iter().zip(&d.blocks) {
            h = block.forward(up.forward(upsample_nearest(h)));
        }
        d.conv_out.forward(silu(d.norm_out.forward(h)))
    }
}

/// KL(N(μ, σ²) ‖ N(0, I)) per latent element, averaged: ½·mean(μ² + σ² − 1 − log σ²).
pub fn kl_per_element(mean: Tensor<4>, logvar: Tensor<4>) -> Tensor<1> {
    (mean.powi_scalar(2) + logvar.clone().exp() - logvar)
        .sub_scalar(1.0)
        .mean()
        .mul_scalar(0.5)
}
