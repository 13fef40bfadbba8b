//! The latent noise predictor: the DDPM U-Net's residual blocks, time embedding and
//! up/down sampling, with Stable Diffusion's transformer block at chosen resolutions:
//! self-attention, cross-attention on the prompt context, and a feed-forward layer, each
//! pre-LayerNorm and residual. Every attention projection (q, k, v, out) is a `Linear`,
//! which is where LoRA attaches.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, silu, softmax};
use burn::tensor::{Device, Tensor};

use super::config::LatentUNetSpec;
use crate::generators::ddpm::unet::{
    ResBlock, conv3, group_norm, timestep_embedding, upsample_nearest,
};

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
        let [b, n, c] = x.dims();
        let m = context.dims()[1];
        let (h, d) = (self.heads, c / self.heads);
        let split = |t: Tensor<3>, len: usize| t.reshape([b, len, h, d]).swap_dims(1, 2);
        let q = split(self.q.forward(x), n);
        let k = split(self.k.forward(context.clone()), m);
        let v = split(self.v.forward(context), m);
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d as f64).sqrt());
        let out = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b, n, c]);
        self.out.forward(out)
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

#[derive(Module, Debug)]
pub struct Level {
    blocks: Vec<ResBlock>,
    attentions: Vec<TransformerBlock>,
    resample: Option<Conv2d>,
}

#[derive(Module, Debug)]
pub struct LatentUNet {
    time1: Linear,
    time2: Linear,
    conv_in: Conv2d,
    down: Vec<Level>,
    mid1: ResBlock,
    mid_attn: TransformerBlock,
    mid2: ResBlock,
    up: Vec<Level>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    base_channels: usize,
}

impl LatentUNet {
    /// A U-Net over `channels`-channel latents of side `size`.
    pub fn new(spec: &LatentUNetSpec, channels: usize, size: u32, device: &Device) -> Self {
        let base = spec.base_channels;
        let time_dim = 4 * base;
        let levels = spec.channel_mults.len();
        let mut chans = vec![base];
        let (mut ch, mut res) = (base, size);
        let mut down = Vec::with_capacity(levels);
        for (i, &mult) in spec.channel_mults.iter().enumerate() {
            let out_ch = base * mult;
            let attend = spec.attention_resolutions.contains(&res);
            let (mut blocks, mut attentions) = (Vec::new(), Vec::new());
            for _ in 0..spec.res_blocks {
                blocks.push(ResBlock::new(ch, out_ch, time_dim, device));
                if attend {
                    attentions.push(TransformerBlock::new(out_ch, spec, device));
                }
                ch = out_ch;
                chans.push(ch);
            }
            let resample = (i + 1 < levels).then(|| conv3([ch, ch], 2, device));
            if resample.is_some() {
                chans.push(ch);
                res /= 2;
            }
            down.push(Level {
                blocks,
                attentions,
                resample,
            });
        }
        let mid1 = ResBlock::new(ch, ch, time_dim, device);
        let mid_attn = TransformerBlock::new(ch, spec, device);
        let mid2 = ResBlock::new(ch, ch, time_dim, device);
        let mut up = Vec::with_capacity(levels);
        for (i, &mult) in spec.channel_mults.iter().enumerate().rev() {
            let out_ch = base * mult;
            let attend = spec.attention_resolutions.contains(&res);
            let (mut blocks, mut attentions) = (Vec::new(), Vec::new());
            for _ in 0..=spec.res_blocks {
                let skip = chans.pop().unwrap_or(base);
                blocks.push(ResBlock::new(ch + skip, out_ch, time_dim, device));
                if attend {
                    attentions.push(TransformerBlock::new(out_ch, spec, device));
                }
                ch = out_ch;
            }
            let resample = (i > 0).then(|| conv3([ch, ch], 1, device));
            if resample.is_some() {
                res *= 2;
            }
            up.push(Level {
                blocks,
                attentions,
                resample,
            });
        }
        Self {
            time1: LinearConfig::new(base, time_dim).init(device),
            time2: LinearConfig::new(time_dim, time_dim).init(device),
            conv_in: conv3([channels, base], 1, device),
            down,
            mid1,
            mid_attn,
            mid2,
            up,
            norm_out: group_norm(ch, device),
            conv_out: conv3([ch, channels], 1, device),
            base_channels: base,
        }
    }

    /// Predicted noise ε̂(z_t, t, context) for latents [b, c, s, s].
    pub fn forward(&self, x: Tensor<4>, t: &[usize], context: Tensor<3>) -> Tensor<4> {
        let device = x.device();
        let temb = timestep_embedding(t, self.base_channels, &device);
        let temb = self.time2.forward(silu(self.time1.forward(temb)));
        let mut h = self.conv_in.forward(x);
        let mut skips = vec![h.clone()];
        for level in &self.down {
            for (i, block) in level.blocks.iter().enumerate() {
                h = block.forward(h, temb.clone());
                if let Some(attn) = level.attentions.get(i) {
                    h = attn.forward(h, context.clone());
                }
                skips.push(h.clone());
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(h);
                skips.push(h.clone());
            }
        }
        h = self.mid1.forward(h, temb.clone());
        h = self.mid_attn.forward(h, context.clone());
        h = self.mid2.forward(h, temb.clone());
        for level in &self.up {
            for (i, block) in level.blocks.iter().enumerate() {
                let skip = skips.pop().unwrap_or_else(|| h.clone());
                h = block.forward(Tensor::cat(vec![h, skip], 1), temb.clone());
                if let Some(attn) = level.attentions.get(i) {
                    h = attn.forward(h, context.clone());
                }
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(upsample_nearest(h));
            }
        }
        self.conv_out.forward(silu(self.norm_out.forward(h)))
    }
}
