//! diffusers' building blocks shared by AutoencoderKL and UNet2DConditionModel, with
//! diffusers' parameter names: `ResnetBlock2D`, the attention processor (`to_q`, `to_k`,
//! `to_v`, `to_out.0`), down/up-sampling convolutions.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use crate::attention::{attend, split_heads};

pub(crate) fn conv(in_ch: usize, out_ch: usize, kernel: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([in_ch, out_ch], [kernel, kernel])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init(device)
}

pub(crate) fn group_norm(groups: usize, channels: usize, eps: f64, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups, channels)
        .with_epsilon(eps)
        .init(device)
}

pub(crate) fn linear(in_dim: usize, out_dim: usize, bias: bool, device: &Device) -> Linear {
    LinearConfig::new(in_dim, out_dim)
        .with_bias(bias)
        .init(device)
}

/// `ResnetBlock2D`: GroupNorm → SiLU → conv, plus the projected time embedding when the
/// block has one, GroupNorm → SiLU → conv, added to the (1×1-projected) input.
#[derive(Module, Debug)]
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
}

impl ResnetBlock2D {
    pub(crate) fn new(
        in_ch: usize,
        out_ch: usize,
        temb: Option<usize>,
        groups: usize,
        eps: f64,
        device: &Device,
    ) -> Self {
        Self {
            norm1: group_norm(groups, in_ch, eps, device),
            conv1: conv(in_ch, out_ch, 3, device),
            time_emb_proj: temb.map(|t| linear(t, out_ch, true, device)),
            norm2: group_norm(groups, out_ch, eps, device),
            conv2: conv(out_ch, out_ch, 3, device),
            conv_shortcut: (in_ch != out_ch)
                .then(|| Conv2dConfig::new([in_ch, out_ch], [1, 1]).init(device)),
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>, temb: Option<Tensor<2>>) -> Tensor<4> {
        let mut h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        if let (Some(proj), Some(temb)) = (&self.time_emb_proj, temb) {
            let t = proj.forward(silu(temb));
            let [b, c] = t.dims();
            h = h + t.reshape([b, c, 1, 1]);
        }
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        let shortcut = match &self.conv_shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        shortcut + h
    }
}

/// diffusers' `Attention` (processor `AttnProcessor`): multi-head attention of `x` on a
/// context (itself when none), optionally with its own GroupNorm and residual (the
/// VAE's mid-block attention on feature maps).
#[derive(Module, Debug)]
pub struct Attention {
    group_norm: Option<GroupNorm>,
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    /// diffusers' `ModuleList([Linear, Dropout])`: one Linear, so its path is `to_out.0`.
    to_out: Vec<Linear>,
    heads: usize,
}

impl Attention {
    /// Cross- or self-attention inside a transformer block: projections without bias.
    pub(crate) fn new(
        query_dim: usize,
        context_dim: usize,
        heads: usize,
        head_dim: usize,
        device: &Device,
    ) -> Self {
        let inner = heads * head_dim;
        Self {
            group_norm: None,
            to_q: linear(query_dim, inner, false, device),
            to_k: linear(context_dim, inner, false, device),
            to_v: linear(context_dim, inner, false, device),
            to_out: vec![linear(inner, query_dim, true, device)],
            heads,
        }
    }

    /// The VAE's single-head attention over a feature map, with its own GroupNorm and
    /// biased projections.
    pub(crate) fn spatial(channels: usize, groups: usize, eps: f64, device: &Device) -> Self {
        Self {
            group_norm: Some(group_norm(groups, channels, eps, device)),
            to_q: linear(channels, channels, true, device),
            to_k: linear(channels, channels, true, device),
            to_v: linear(channels, channels, true, device),
            to_out: vec![linear(channels, channels, true, device)],
            heads: 1,
        }
    }

    /// Attention of tokens `x` [b, n, query_dim] on `context` [b, m, context_dim].
    pub(crate) fn forward(&self, x: Tensor<3>, context: Option<Tensor<3>>) -> Tensor<3> {
        let context = context.unwrap_or_else(|| x.clone());
        let q = self.to_q.forward(x);
        let d = q.dims()[2] / self.heads;
        let q = split_heads(q, self.heads);
        let k = split_heads(self.to_k.forward(context.clone()), self.heads);
        let v = split_heads(self.to_v.forward(context), self.heads);
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar((d as f64).powf(-0.5));
        let out = attend(scores, v);
        self.to_out.iter().fold(out, |out, proj| proj.forward(out))
    }

    /// The VAE's spatial form: GroupNorm, attention over the h·w positions, residual.
    pub(crate) fn forward_spatial(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, height, width] = x.dims();
        let h = match &self.group_norm {
            Some(norm) => norm.forward(x.clone()),
            None => x.clone(),
        };
        let tokens = h.reshape([b, c, height * width]).swap_dims(1, 2);
        let out = self
            .forward(tokens, None)
            .swap_dims(1, 2)
            .reshape([b, c, height, width]);
        out + x
    }
}

/// `Downsample2D` with a convolution: stride 2; the VAE pads right and bottom by one
/// (`padding=0`), the U-Net pads symmetrically (`padding=1`).
#[derive(Module, Debug)]
pub struct Downsample2D {
    conv: Conv2d,
}

impl Downsample2D {
    pub(crate) fn new(channels: usize, asymmetric: bool, device: &Device) -> Self {
        let padding = if asymmetric {
            PaddingConfig2d::Explicit(0, 0, 1, 1)
        } else {
            PaddingConfig2d::Explicit(1, 1, 1, 1)
        };
        Self {
            conv: Conv2dConfig::new([channels, channels], [3, 3])
                .with_stride([2, 2])
                .with_padding(padding)
                .init(device),
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv.forward(x)
    }
}

/// `Upsample2D` with a convolution: nearest-neighbour ×2, then a 3×3 convolution.
#[derive(Module, Debug)]
pub struct Upsample2D {
    conv: Conv2d,
}

impl Upsample2D {
    pub(crate) fn new(channels: usize, device: &Device) -> Self {
        Self {
            conv: conv(channels, channels, 3, device),
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let up = x
            .reshape([b, c, h, 1, w, 1])
            .expand([b, c, h, 2, w, 2])
            .reshape([b, c, 2 * h, 2 * w]);
        self.conv.forward(up)
    }
}
