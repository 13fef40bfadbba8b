//! diffusers' `AutoencoderKL` built from `vae/config.json`: the encoder to a diagonal
//! Gaussian over latents (mean, log-variance), the decoder back to pixels, and the
//! config's `scaling_factor` (0.18215 for SD v1.x) between them and the U-Net.

use std::path::Path;

use burn::module::Module;
use burn::nn::GroupNorm;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use serde::Deserialize;

use super::blocks::{Attention, Downsample2D, ResnetBlock2D, Upsample2D, conv, group_norm};
use super::files::{invalid, read_json_value};
use super::unet_config::BlockLayout;
use super::weights::{Naming, load_torch_file};
use crate::StageError;

/// Every norm in diffusers' VAE uses this epsilon.
const EPS: f64 = 1e-6;

/// Checkpoints converted before diffusers 0.14 name the mid-block attention's layers
/// `query`, `key`, `value`, `proj_attn`.
pub const NAMING: Naming = Naming {
    ignored: &[],
    layout: &[],
    aliases: &[
        (".attentions.0.query.", ".attentions.0.to_q."),
        (".attentions.0.key.", ".attentions.0.to_k."),
        (".attentions.0.value.", ".attentions.0.to_v."),
        (".attentions.0.proj_attn.", ".attentions.0.to_out.0."),
    ],
};

/// The fields of `vae/config.json` the model is built from.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct VaeConfig {
    #[serde(flatten)]
    pub blocks: BlockLayout,
    #[serde(default = "silu_name")]
    pub act_fn: String,
    pub latent_channels: usize,
    /// SD v1-4's published config omits it: diffusers' default.
    #[serde(default = "thirty_two")]
    pub norm_num_groups: usize,
    #[serde(default = "sd1_scaling")]
    pub scaling_factor: f64,
    #[serde(default = "yes")]
    pub mid_block_add_attention: bool,
    #[serde(default = "yes")]
    pub use_quant_conv: bool,
    #[serde(default = "yes")]
    pub use_post_quant_conv: bool,
}

fn silu_name() -> String {
    "silu".to_owned()
}

fn thirty_two() -> usize {
    32
}

fn sd1_scaling() -> f64 {
    0.18215
}

fn yes() -> bool {
    true
}

impl VaeConfig {
    /// Reads and checks `path` (a `vae/config.json`).
    pub fn read(path: &Path) -> Result<Self, StageError> {
        let config: Self = serde_json::from_value(read_json_value(path)?)
            .map_err(|err| invalid(path, err.to_string()))?;
        let mut problems = Vec::new();
        let n = config.blocks.block_out_channels.len();
        if n == 0 || n > 8 {
            problems.push(format!("{n} block_out_channels"));
        }
        if config.blocks.down_block_types.len() != n || config.blocks.up_block_types.len() != n {
            problems.push("down/up_block_types and block_out_channels differ in length".into());
        }
        for (side, types, only) in [
            (
                "down",
                &config.blocks.down_block_types,
                "DownEncoderBlock2D",
            ),
            ("up", &config.blocks.up_block_types, "UpDecoderBlock2D"),
        ] {
            if let Some(t) = types.iter().find(|t| *t != only) {
                problems.push(format!("{side} block {t:?} (only {only})"));
            }
        }
        if config.act_fn != "silu" {
            problems.push(format!("act_fn {:?} (only silu)", config.act_fn));
        }
        let groups = config.norm_num_groups.max(1);
        if config.norm_num_groups == 0
            || config
                .blocks
                .block_out_channels
                .iter()
                .any(|c| *c == 0 || *c > 4096 || !c.is_multiple_of(groups))
        {
            problems.push(format!(
                "block_out_channels {:?} are not positive multiples of norm_num_groups {}",
                config.blocks.block_out_channels, config.norm_num_groups
            ));
        }
        let small = |v: usize| (1..=64).contains(&v);
        if !small(config.blocks.in_channels)
            || !small(config.blocks.out_channels)
            || !small(config.latent_channels)
            || !(1..=8).contains(&config.blocks.layers_per_block)
        {
            problems.push("channel or layer counts out of range".into());
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(invalid(path, problems.join("; ")))
        }
    }
}

/// `UNetMidBlock2D` of the VAE: resnet, attention, resnet.
#[derive(Module, Debug)]
pub struct VaeMidBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<Attention>,
}

impl VaeMidBlock {
    fn new(channels: usize, config: &VaeConfig, device: &Device) -> Self {
        let g = config.norm_num_groups;
        let resnet = || ResnetBlock2D::new(channels, channels, None, g, EPS, device);
        Self {
            resnets: vec![resnet(), resnet()],
            attentions: if config.mid_block_add_attention {
                vec![Attention::spatial(channels, g, EPS, device)]
            } else {
                Vec::new()
            },
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = self.resnets[0].forward(x, None);
        for attention in &self.attentions {
            h = attention.forward_spatial(h);
        }
        self.resnets[1].forward(h, None)
    }
}

#[derive(Module, Debug)]
pub struct DownEncoderBlock {
    resnets: Vec<ResnetBlock2D>,
    downsamplers: Vec<Downsample2D>,
}

#[derive(Module, Debug)]
pub struct UpDecoderBlock {
    resnets: Vec<ResnetBlock2D>,
    upsamplers: Vec<Upsample2D>,
}

#[derive(Module, Debug)]
pub struct Encoder {
    conv_in: Conv2d,
    down_blocks: Vec<DownEncoderBlock>,
    mid_block: VaeMidBlock,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
}

#[derive(Module, Debug)]
pub struct Decoder {
    conv_in: Conv2d,
    mid_block: VaeMidBlock,
    up_blocks: Vec<UpDecoderBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
}

#[derive(Module, Debug)]
pub struct AutoencoderKl {
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Option<Conv2d>,
    post_quant_conv: Option<Conv2d>,
}

impl AutoencoderKl {
    /// The module tree for `config` (checked by [`VaeConfig::read`]), not yet allocated.
    pub fn new(config: &VaeConfig, device: &Device) -> Self {
        let ch = &config.blocks.block_out_channels;
        let (g, last) = (config.norm_num_groups, ch.len() - 1);
        let resnet = |i, o| ResnetBlock2D::new(i, o, None, g, EPS, device);
        // `n` blocks from `from` to `to` channels: the first one changes the width.
        let resnet_chain = |from, to, n| -> Vec<_> {
            (0..n)
                .map(|j| resnet(if j == 0 { from } else { to }, to))
                .collect()
        };
        let layers = config.blocks.layers_per_block;
        let mut prev = ch[0];
        let down_blocks = ch
            .iter()
            .enumerate()
            .map(|(i, &out)| {
                let resnets = resnet_chain(prev, out, layers);
                prev = out;
                DownEncoderBlock {
                    resnets,
                    downsamplers: (i != last)
                        .then(|| Downsample2D::new(out, true, device))
                        .into_iter()
                        .collect(),
                }
            })
            .collect();
        let mut prev = ch[last];
        let up_blocks = ch
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &out)| {
                // The decoder has one more block per level than the encoder.
                let resnets = resnet_chain(prev, out, layers + 1);
                prev = out;
                UpDecoderBlock {
                    resnets,
                    upsamplers: (i != last)
                        .then(|| Upsample2D::new(out, device))
                        .into_iter()
                        .collect(),
                }
            })
            .collect();
        let latent = config.latent_channels;
        let one_by_one = |c| Conv2dConfig::new([c, c], [1, 1]).init(device);
        Self {
            encoder: Encoder {
                conv_in: conv(config.blocks.in_channels, ch[0], 3, device),
                down_blocks,
                mid_block: VaeMidBlock::new(ch[last], config, device),
                conv_norm_out: group_norm(g, ch[last], EPS, device),
                conv_out: conv(ch[last], 2 * latent, 3, device),
            },
            decoder: Decoder {
                conv_in: conv(latent, ch[last], 3, device),
                mid_block: VaeMidBlock::new(ch[last], config, device),
                up_blocks,
                conv_norm_out: group_norm(g, ch[0], EPS, device),
                conv_out: conv(ch[0], config.blocks.out_channels, 3, device),
            },
            quant_conv: config.use_quant_conv.then(|| one_by_one(2 * latent)),
            post_quant_conv: config.use_post_quant_conv.then(|| one_by_one(latent)),
        }
    }

    /// Builds the model for `config` and loads `path` (diffusers' names; f16 or f32).
    /// Checkpoints converted before diffusers 0.14 name the mid-block attention
    /// `query`/`key`/`value`/`proj_attn`; those are accepted too.
    pub fn load(config: &VaeConfig, path: &Path, device: &Device) -> Result<Self, StageError> {
        load_torch_file(Self::new(config, device), path, &NAMING)
    }

    /// The latent distribution's mean and log-variance (clamped to [−30, 20], as
    /// diffusers does) for images in [−1, 1], unscaled.
    pub fn encode(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let e = &self.encoder;
        let mut h = e.conv_in.forward(x);
        for block in &e.down_blocks {
            for resnet in &block.resnets {
                h = resnet.forward(h, None);
            }
            for down in &block.downsamplers {
                h = down.forward(h);
            }
        }
        let h = e.mid_block.forward(h);
        let mut moments = e.conv_out.forward(silu(e.conv_norm_out.forward(h)));
        if let Some(quant) = &self.quant_conv {
            moments = quant.forward(moments);
        }
        let [mean, logvar] = moments.chunk(2, 1).try_into().expect("two halves");
        (mean, logvar.clamp(-30.0, 20.0))
    }

    /// Images (about [−1, 1]) from unscaled latents.
    pub fn decode(&self, z: Tensor<4>) -> Tensor<4> {
        let d = &self.decoder;
        let z = match &self.post_quant_conv {
            Some(conv) => conv.forward(z),
            None => z,
        };
        let mut h = d.mid_block.forward(d.conv_in.forward(z));
        for block in &d.up_blocks {
            for resnet in &block.resnets {
                h = resnet.forward(h, None);
            }
            for up in &block.upsamplers {
                h = up.forward(h);
            }
        }
        d.conv_out.forward(silu(d.conv_norm_out.forward(h)))
    }
}
