//! The latent noise predictor: the U-Net the pixel DDPM also uses (`generators/unet.rs`),
//! with Stable Diffusion's transformer block at chosen resolutions: self-attention,
//! cross-attention on the prompt context, and a feed-forward layer, each pre-LayerNorm
//! and residual. Every attention projection (q, k, v, out) is a `Linear`,
//! which is where LoRA attaches.

use burn::module::Module;
use burn::nn::{GroupNorm, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

use super::config::LatentUNetSpec;
use crate::attention::{attend, split_heads};
use crate::generators::UNetSpec;
use crate::generators::unet::{AttentionBlock, UNetCore, group_norm};

/// Multi-head attention of `x` [b, n, c] on `context` [b, m, d] (itself for
/// self-attention).
#[derive(Module, Debug)]
pub struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
}

impl Attention {
    fn new(channels: usize, context_dim: usize, heads: usize, device: &Device) -> Self {
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        Self {
            q: linear(channels, channels),
            k: linear(context_dim, channels),
            v: linear(context_dim, channels),
            out: LinearConfig::new(channels, channels).init(device),
            heads,
        }
    }

    fn forward(&self, x: Tensor<3>, context: Tensor<3>) -> Tensor<3> {
        let d = x.dims()[2] / self.heads;
        let q = split_heads(self.q.forward(x), self.heads);
        let k = split_heads(self.k.forward(context.clone()), self.heads);
        let v = split_heads(self.v.forward(context), self.heads);
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d as f64).sqrt());
        self.out.forward(attend(scores, v))
    }
}

/// GroupNorm → per-pixel projection → [self-attention, cross-attention, feed-forward]
/// → projection, added to the input.
#[derive(Module, Debug)]
pub struct TransformerBlock {
    norm: GroupNorm,
    proj_in: Linear,
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff1: Linear,
    ff2: Linear,
    proj_out: Linear,
}

impl TransformerBlock {
    fn new(channels: usize, spec: &LatentUNetSpec, device: &Device) -> Self {
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        let norm = || LayerNormConfig::new(channels).init(device);
        Self {
            norm: group_norm(channels, device),
            proj_in: linear(channels, channels),
            norm1: norm(),
            attn1: Attention::new(channels, channels, spec.heads, device),
            norm2: norm(),
            attn2: Attention::new(channels, spec.context_dim, spec.heads, device),
            norm3: norm(),
            ff1: linear(channels, 4 * channels),
            ff2: linear(4 * channels, channels),
            proj_out: linear(channels, channels),
        }
    }

    fn forward(&self, x: Tensor<4>, context: Tensor<3>) -> Tensor<4> {
        let [b, c, height, width] = x.dims();
        let h = self
            .norm
            .forward(x.clone())
            .reshape([b, c, height * width])
            .swap_dims(1, 2);
        let mut h = self.proj_in.forward(h);
        let n1 = self.norm1.forward(h.clone());
        h = h + self.attn1.forward(n1.clone(), n1);
        h = h.clone() + self.attn2.forward(self.norm2.forward(h), context);
        h = h.clone()
            + self
                .ff2
                .forward(gelu(self.ff1.forward(self.norm3.forward(h))));
        let h = self
            .proj_out
            .forward(h)
            .swap_dims(1, 2)
            .reshape([b, c, height, width]);
        x + h
    }
}

impl AttentionBlock for TransformerBlock {
    type Context = Tensor<3>;

    fn attend(&self, x: Tensor<4>, context: &Tensor<3>) -> Tensor<4> {
        self.forward(x, context.clone())
    }
}

/// The U-Net over latents, conditioned on a prompt's context [b, m, context_dim].
pub type LatentUNet = UNetCore<TransformerBlock>;

impl UNetCore<TransformerBlock> {
    /// A U-Net over `channels`-channel latents of side `size`.
    pub fn new(spec: &LatentUNetSpec, channels: usize, size: u32, device: &Device) -> Self {
        let shape = UNetSpec {
            base_channels: spec.base_channels,
            channel_mults: spec.channel_mults.clone(),
            res_blocks: spec.res_blocks,
            attention_resolutions: spec.attention_resolutions.clone(),
        };
        let block = |ch| TransformerBlock::new(ch, spec, device);
        Self::build(&shape, channels, size, block, device)
    }

    /// Predicted noise ε̂(z_t, t, context) for latents [b, c, s, s].
    pub fn forward(&self, x: Tensor<4>, t: &[usize], context: Tensor<3>) -> Tensor<4> {
        self.predict(x, t, &context)
    }
}
