//! diffusers' `UNet2DConditionModel` as SD v1.x configures it, built from
//! `unet/config.json`: sinusoidal time embedding, `CrossAttnDownBlock2D`/`DownBlock2D`,
//! the cross-attention mid block, `UpBlock2D`/`CrossAttnUpBlock2D` with skip
//! connections, and `Transformer2DModel`s (GroupNorm, 1×1 conv in, self-attention,
//! cross-attention on the text context, GEGLU feed-forward, 1×1 conv out). SD v2.x
//! (linear projections, v-prediction, per-block head counts) and SDXL (added
//! conditioning, several transformer layers per block) are refused by
//! [`UNetConfig::read`].

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{gelu, silu};
use burn::tensor::{Device, Tensor, TensorData};

use super::blocks::{Attention, Downsample2D, ResnetBlock2D, Upsample2D, conv, group_norm, linear};
use super::unet_config::UNetConfig;
use super::weights::{Naming, load_torch_file};
use crate::StageError;

/// diffusers' transformer blocks normalise their input with this epsilon.
const TRANSFORMER_GROUP_EPS: f64 = 1e-6;
const LAYER_NORM_EPS: f64 = 1e-5;

/// diffusers' feed-forward is `ff.net = [GEGLU, Dropout, Linear]`; a Burn path cannot
/// name index 2 without index 1, so ours are `ff.geglu` and `ff.out`.
pub const NAMING: Naming = Naming {
    ignored: &[],
    layout: &[
        (".ff.net.0.proj.", ".ff.geglu."),
        (".ff.net.2.", ".ff.out."),
    ],
    aliases: &[],
};

/// GEGLU feed-forward: `geglu` projects to 2 × inner; value × GELU(gate); `out` back.
#[derive(Module, Debug)]
pub struct FeedForward {
    geglu: Linear,
    out: Linear,
}

impl FeedForward {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [value, gate] = self
            .geglu
            .forward(x)
            .chunk(2, 2)
            .try_into()
            .expect("two halves");
        self.out.forward(value * gelu(gate))
    }
}

/// `BasicTransformerBlock`: pre-LayerNorm self-attention, cross-attention on the text
/// context, GEGLU feed-forward, each residual.
#[derive(Module, Debug)]
pub struct BasicTransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff: FeedForward,
}

/// `Transformer2DModel` with convolutional projections (SD v1.x).
#[derive(Module, Debug)]
pub struct Transformer2D {
    norm: GroupNorm,
    proj_in: Conv2d,
    transformer_blocks: Vec<BasicTransformerBlock>,
    proj_out: Conv2d,
}

impl Transformer2D {
    fn new(channels: usize, config: &UNetConfig, device: &Device) -> Self {
        let heads = config.attention_head_dim;
        let head_dim = channels / heads;
        let norm = || {
            LayerNormConfig::new(channels)
                .with_epsilon(LAYER_NORM_EPS)
                .init(device)
        };
        let one_by_one = || Conv2dConfig::new([channels, channels], [1, 1]).init(device);
        let inner = 4 * channels;
        Self {
            norm: group_norm(
                config.norm_num_groups,
                channels,
                TRANSFORMER_GROUP_EPS,
                device,
            ),
            proj_in: one_by_one(),
            transformer_blocks: vec![BasicTransformerBlock {
                norm1: norm(),
                attn1: Attention::new(channels, channels, heads, head_dim, device),
                norm2: norm(),
                attn2: Attention::new(
                    channels,
                    config.cross_attention_dim,
                    heads,
                    head_dim,
                    device,
                ),
                norm3: norm(),
                ff: FeedForward {
                    geglu: linear(channels, 2 * inner, true, device),
                    out: linear(inner, channels, true, device),
                },
            }],
            proj_out: one_by_one(),
        }
    }

    fn forward(&self, x: Tensor<4>, context: Tensor<3>) -> Tensor<4> {
        let [b, c, height, width] = x.dims();
        let h = self.proj_in.forward(self.norm.forward(x.clone()));
        let mut h = h.reshape([b, c, height * width]).swap_dims(1, 2);
        for block in &self.transformer_blocks {
            h = block.attn1.forward(block.norm1.forward(h.clone()), None) + h;
            h = block
                .attn2
                .forward(block.norm2.forward(h.clone()), Some(context.clone()))
                + h;
            h = block.ff.forward(block.norm3.forward(h.clone())) + h;
        }
        let h = h.swap_dims(1, 2).reshape([b, c, height, width]);
        self.proj_out.forward(h) + x
    }
}

#[derive(Module, Debug)]
pub struct TimestepEmbedding {
    linear_1: Linear,
    linear_2: Linear,
}

/// A down or up block: resnets, optionally a transformer after each, optionally a
/// resampler at the end.
#[derive(Module, Debug)]
pub struct DownBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<Transformer2D>,
    downsamplers: Vec<Downsample2D>,
}

#[derive(Module, Debug)]
pub struct UpBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<Transformer2D>,
    upsamplers: Vec<Upsample2D>,
}

#[derive(Module, Debug)]
pub struct MidBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<Transformer2D>,
}

#[derive(Module, Debug)]
pub struct UNet2DCondition {
    conv_in: Conv2d,
    time_embedding: TimestepEmbedding,
    down_blocks: Vec<DownBlock>,
    mid_block: MidBlock,
    up_blocks: Vec<UpBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    /// Sinusoid width (the first block's channels), cos-first and shift from the config.
    time_channels: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
}

impl UNet2DCondition {
    /// The module tree for `config` (checked by [`UNetConfig::read`]), not yet allocated.
    pub fn new(config: &UNetConfig, device: &Device) -> Self {
        let ch = &config.blocks.block_out_channels;
        let last = ch.len() - 1;
        let (g, eps, temb) = (config.norm_num_groups, config.norm_eps, config.time_dim());
        let resnet = |i, o| ResnetBlock2D::new(i, o, Some(temb), g, eps, device);
        let transformer = |c| Transformer2D::new(c, config, device);
        let layers = config.blocks.layers_per_block;
        let mut prev = ch[0];
        let down_blocks = ch
            .iter()
            .zip(&config.blocks.down_block_types)
            .enumerate()
            .map(|(i, (&out, kind))| {
                let block = DownBlock {
                    resnets: (0..layers)
                        .map(|j| resnet(if j == 0 { prev } else { out }, out))
                        .collect(),
                    attentions: if kind == "CrossAttnDownBlock2D" {
                        (0..layers).map(|_| transformer(out)).collect()
                    } else {
                        Vec::new()
                    },
                    downsamplers: (i != last)
                        .then(|| Downsample2D::new(out, false, device))
                        .into_iter()
                        .collect(),
                };
                prev = out;
                block
            })
            .collect();
        let reversed: Vec<usize> = ch.iter().rev().copied().collect();
        let mut prev = reversed[0];
        let up_blocks = reversed
            .iter()
            .zip(&config.blocks.up_block_types)
            .enumerate()
            .map(|(i, (&out, kind))| {
                // The skip connections come from the down path in reverse: the block's
                // last takes the output of the next-shallower level.
                let skip_in = reversed[(i + 1).min(last)];
                let block = UpBlock {
                    resnets: (0..=layers)
                        .map(|j| {
                            let skip = if j == layers { skip_in } else { out };
                            let input = if j == 0 { prev } else { out };
                            resnet(input + skip, out)
                        })
                        .collect(),
                    attentions: if kind == "CrossAttnUpBlock2D" {
                        (0..=layers).map(|_| transformer(out)).collect()
                    } else {
                        Vec::new()
                    },
                    upsamplers: (i != last)
                        .then(|| Upsample2D::new(out, device))
                        .into_iter()
                        .collect(),
                };
                prev = out;
                block
            })
            .collect();
        Self {
            conv_in: conv(config.blocks.in_channels, ch[0], 3, device),
            time_embedding: TimestepEmbedding {
                linear_1: linear(ch[0], temb, true, device),
                linear_2: linear(temb, temb, true, device),
            },
            down_blocks,
            mid_block: MidBlock {
                resnets: vec![resnet(ch[last], ch[last]), resnet(ch[last], ch[last])],
                attentions: vec![transformer(ch[last])],
            },
            up_blocks,
            conv_norm_out: group_norm(g, ch[0], eps, device),
            conv_out: conv(ch[0], config.blocks.out_channels, 3, device),
            time_channels: ch[0],
            flip_sin_to_cos: config.flip_sin_to_cos,
            freq_shift: config.freq_shift,
        }
    }

    /// Builds the model for `config` and loads `path` (diffusers' names; f16 or f32).
    pub fn load(config: &UNetConfig, path: &Path, device: &Device) -> Result<Self, StageError> {
        load_torch_file(Self::new(config, device), path, &NAMING)
    }

    /// diffusers' `get_timestep_embedding`, in f32 as torch computes it: frequencies
    /// exp(−ln(10⁴)·i / (half − shift)), then [cos, sin] (or [sin, cos]).
    fn sinusoids(&self, timesteps: &[f32], device: &Device) -> Tensor<2> {
        let half = self.time_channels / 2;
        let scale = -(10_000f64.ln()) as f32;
        let denominator = (half as f64 - self.freq_shift) as f32;
        let mut values = Vec::with_capacity(timesteps.len() * 2 * half);
        for &t in timesteps {
            let args: Vec<f32> = (0..half)
                .map(|i| t * (scale * i as f32 / denominator).exp())
                .collect();
            let sin = args.iter().map(|a| a.sin());
            let cos = args.iter().map(|a| a.cos());
            if self.flip_sin_to_cos {
                values.extend(cos.chain(sin));
            } else {
                values.extend(sin.chain(cos));
            }
        }
        Tensor::from_data(TensorData::new(values, [timesteps.len(), 2 * half]), device)
    }

    /// The predicted noise for latents `x` [b, c, h, w] at `timesteps` (one per image)
    /// given the text context [b, n, cross_attention_dim]. h and w must be multiples of
    /// 2^(blocks − 1).
    pub fn forward(&self, x: Tensor<4>, timesteps: &[f32], context: Tensor<3>) -> Tensor<4> {
        let device = x.device();
        let t = self.sinusoids(timesteps, &device);
        let emb = self
            .time_embedding
            .linear_2
            .forward(silu(self.time_embedding.linear_1.forward(t)));
        let mut h = self.conv_in.forward(x);
        let mut skips = vec![h.clone()];
        for block in &self.down_blocks {
            for (j, resnet) in block.resnets.iter().enumerate() {
                h = resnet.forward(h, Some(emb.clone()));
                if let Some(attention) = block.attentions.get(j) {
                    h = attention.forward(h, context.clone());
                }
                skips.push(h.clone());
            }
            for down in &block.downsamplers {
                h = down.forward(h);
                skips.push(h.clone());
            }
        }
        let mid = &self.mid_block;
        h = mid.resnets[0].forward(h, Some(emb.clone()));
        h = mid.attentions[0].forward(h, context.clone());
        h = mid.resnets[1].forward(h, Some(emb.clone()));
        for block in &self.up_blocks {
            for (j, resnet) in block.resnets.iter().enumerate() {
                let skip = skips.pop().expect("one skip per up resnet");
                h = resnet.forward(Tensor::cat(vec![h, skip], 1), Some(emb.clone()));
                if let Some(attention) = block.attentions.get(j) {
                    h = attention.forward(h, context.clone());
                }
            }
            for up in &block.upsamplers {
                h = up.forward(h);
            }
        }
        self.conv_out.forward(silu(self.conv_norm_out.forward(h)))
    }
}
