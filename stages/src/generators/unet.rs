//! The noise-prediction U-Net of Ho et al. (2020) that the pixel DDPM and latent diffusion
//! share: residual blocks with GroupNorm and a time-embedding projection, an attention
//! block after each residual block at chosen resolutions and in the middle, sinusoidal
//! time embedding, skip connections from every down block to its up block. The families
//! differ only in that attention block ([`AttentionBlock`]); the parameter names are the
//! same for both, so weight files keep their tensor names.

use std::fmt::Debug;

use burn::module::{Module, ModuleDisplay};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor, TensorData};

use crate::generators::UNetSpec;

pub(crate) fn conv3(channels: [usize; 2], stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

pub(crate) fn conv1(channels: [usize; 2], device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [1, 1]).init(device)
}

/// GroupNorm with up to 32 groups, as many as divide the channels.
pub(crate) fn group_norm(channels: usize, device: &Device) -> GroupNorm {
    let groups = (1..=32.min(channels))
        .rev()
        .find(|&g| channels.is_multiple_of(g))
        .unwrap_or(1);
    GroupNormConfig::new(groups, channels).init(device)
}

#[derive(Module, Debug)]
pub struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    pub(crate) fn new(in_ch: usize, out_ch: usize, time_dim: usize, device: &Device) -> Self {
        Self {
            norm1: group_norm(in_ch, device),
            conv1: conv3([in_ch, out_ch], 1, device),
            time: LinearConfig::new(time_dim, out_ch).init(device),
            norm2: group_norm(out_ch, device),
            conv2: conv3([out_ch, out_ch], 1, device),
            skip: (in_ch != out_ch).then(|| conv1([in_ch, out_ch], device)),
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>, temb: Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let [b, c] = [h.dims()[0], h.dims()[1]];
        let h = h + self.time.forward(silu(temb)).reshape([b, c, 1, 1]);
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        let skip = match &self.skip {
            Some(conv) => conv.forward(x),
            None => x,
        };
        skip + h
    }
}

/// The block that follows a residual block where the U-Net attends: the pixel DDPM's
/// self-attention, or latent diffusion's transformer block on the prompt.
pub trait AttentionBlock: Module + ModuleDisplay + Debug {
    /// What the block attends to besides the image: nothing, or the prompt's context.
    type Context: Clone;

    fn attend(&self, x: Tensor<4>, context: &Self::Context) -> Tensor<4>;
}

#[derive(Module, Debug)]
pub struct Level<A: AttentionBlock> {
    blocks: Vec<ResBlock>,
    attentions: Vec<A>,
    /// Stride-2 conv (down path) or nearest ×2 + conv (up path); none at the end.
    resample: Option<Conv2d>,
}

/// The U-Net over `channels`-channel inputs, with attention block `A`.
#[derive(Module, Debug)]
pub struct UNetCore<A: AttentionBlock> {
    time1: Linear,
    time2: Linear,
    conv_in: Conv2d,
    down: Vec<Level<A>>,
    mid1: ResBlock,
    mid_attn: A,
    mid2: ResBlock,
    up: Vec<Level<A>>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    base_channels: usize,
}

impl<A: AttentionBlock> UNetCore<A> {
    /// The U-Net of `spec` over `channels`-channel inputs of side `size`; `attention`
    /// makes the attention block for a width.
    pub(crate) fn build(
        spec: &UNetSpec,
        channels: usize,
        size: u32,
        attention: impl Fn(usize) -> A,
        device: &Device,
    ) -> Self {
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
                    attentions.push(attention(out_ch));
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
        let mid_attn = attention(ch);
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
                    attentions.push(attention(out_ch));
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

    /// Predicted noise ε̂(x_t, t) for inputs [b, channels, s, s] at integer timesteps
    /// `t`, attending to `context`.
    pub(crate) fn predict(&self, x: Tensor<4>, t: &[usize], context: &A::Context) -> Tensor<4> {
        let device = x.device();
        let temb = timestep_embedding(t, self.base_channels, &device);
        let temb = self.time2.forward(silu(self.time1.forward(temb)));
        let mut h = self.conv_in.forward(x);
        let mut skips = vec![h.clone()];
        for level in &self.down {
            for (i, block) in level.blocks.iter().enumerate() {
                h = block.forward(h, temb.clone());
                if let Some(attn) = level.attentions.get(i) {
                    h = attn.attend(h, context);
                }
                skips.push(h.clone());
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(h);
                skips.push(h.clone());
            }
        }
        h = self.mid1.forward(h, temb.clone());
        h = self.mid_attn.attend(h, context);
        h = self.mid2.forward(h, temb.clone());
        for level in &self.up {
            for (i, block) in level.blocks.iter().enumerate() {
                let skip = skips.pop().unwrap_or_else(|| h.clone());
                h = block.forward(Tensor::cat(vec![h, skip], 1), temb.clone());
                if let Some(attn) = level.attentions.get(i) {
                    h = attn.attend(h, context);
                }
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(upsample_nearest(h));
            }
        }
        self.conv_out.forward(silu(self.norm_out.forward(h)))
    }
}

/// Nearest-neighbour ×2 upsampling by broadcasting, which every backend differentiates.
pub(crate) fn upsample_nearest(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

/// Sinusoidal embedding of integer timesteps (Vaswani et al.; as in the DDPM code):
/// [sin(t·f_i), cos(t·f_i)] with f_i = 10000^(−i/(half−1)).
pub fn timestep_embedding(t: &[usize], dim: usize, device: &Device) -> Tensor<2> {
    let half = (dim / 2).max(1);
    let scale = (10_000f64).ln() / (half.max(2) - 1) as f64;
    let mut values = Vec::with_capacity(t.len() * dim);
    for &step in t {
        let mut row: Vec<f32> = Vec::with_capacity(dim);
        for i in 0..half {
            row.push((step as f64 * (-scale * i as f64).exp()).sin() as f32);
        }
        for i in 0..half {
            row.push((step as f64 * (-scale * i as f64).exp()).cos() as f32);
        }
        row.resize(dim, 0.0);
        values.extend(row);
    }
    Tensor::from_data(TensorData::new(values, [t.len(), dim]), device)
}
