//! ConvNeXt-T/S (Liu et al. 2022): 4×4 patchify stem, 7×7 depthwise conv, LayerNorm,
//! inverted bottleneck (×4) with GELU, layer scale initialised to 1e-6.
//!
//! Parameter paths follow timm's `convnext_tiny` (`stages.<i>.blocks.<j>.conv_dw`,
//! `.norm`, `.mlp.fc1`, `.mlp.fc2`, `.gamma`), with the stem and downsampling layers
//! named by role instead of by `Sequential` index. Stochastic depth is not implemented.

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

use super::config::ModelSpec;
use super::layers::{
    conv, conv_valid, dropout, global_avg_pool, layer_norm_2d, scale_blocks, scale_channels,
};

const DIMS: [usize; 4] = [96, 192, 384, 768];
pub(super) const TINY_DEPTHS: [usize; 4] = [3, 3, 9, 3];
pub(super) const SMALL_DEPTHS: [usize; 4] = [3, 3, 27, 3];
const LAYER_SCALE_INIT: f64 = 1e-6;
const NORM_EPS: f64 = 1e-6;

fn layer_norm(dim: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(dim)
        .with_epsilon(NORM_EPS)
        .init(device)
}

#[derive(Module, Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

#[derive(Module, Debug)]
pub struct Block {
    conv_dw: Conv2d,
    norm: LayerNorm,
    mlp: Mlp,
    /// Layer scale, one factor per channel.
    gamma: Param<Tensor<1>>,
}

impl Block {
    fn new(dim: usize, device: &Device) -> Self {
        Self {
            conv_dw: conv([dim, dim], 7, 1, dim, true, device),
            norm: layer_norm(dim, device),
            mlp: Mlp {
                fc1: LinearConfig::new(dim, 4 * dim).init(device),
                fc2: LinearConfig::new(4 * dim, dim).init(device),
            },
            gamma: Initializer::Constant {
                value: LAYER_SCALE_INIT,
            }
            .init([dim], device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = x.clone();
        // Channels-last for LayerNorm and the pointwise linears, as in the paper's code.
        let out = self.conv_dw.forward(x).permute([0, 2, 3, 1]);
        let out = self.norm.forward(out);
        let out = self.mlp.fc2.forward(gelu(self.mlp.fc1.forward(out)));
        let [dim] = self.gamma.lazy_shape().dims();
        let out = out * self.gamma.val().reshape([1, 1, 1, dim]);
        shortcut + out.permute([0, 3, 1, 2])
    }
}

#[derive(Module, Debug)]
pub struct Downsample {
    norm: LayerNorm,
    conv: Conv2d,
}

#[derive(Module, Debug)]
pub struct Stage {
    /// None for the first stage, which follows the stem directly.
    downsample: Option<Downsample>,
    blocks: Vec<Block>,
}

#[derive(Module, Debug)]
pub struct ConvNext {
    stem_conv: Conv2d,
    stem_norm: LayerNorm,
    stages: Vec<Stage>,
    head_norm: LayerNorm,
    head_fc: Linear,
    features: usize,
}

impl ConvNext {
    pub fn new(spec: &ModelSpec, depths: [usize; 4], device: &Device) -> Self {
        let dims = DIMS.map(|d| scale_channels(d, spec.width));
        let stages = (0..4)
            .map(|i| Stage {
                downsample: (i > 0).then(|| Downsample {
                    norm: layer_norm(dims[i - 1], device),
                    conv: conv_valid([dims[i - 1], dims[i]], 2, device),
                }),
                blocks: (0..scale_blocks(depths[i], spec.depth))
                    .map(|_| Block::new(dims[i], device))
                    .collect(),
            })
            .collect();
        Self {
            stem_conv: conv_valid([spec.in_channels, dims[0]], 4, device),
            stem_norm: layer_norm(dims[0], device),
            stages,
            head_norm: layer_norm(dims[3], device),
            head_fc: LinearConfig::new(dims[3], spec.num_classes).init(device),
            features: dims[3],
        }
    }

    pub fn num_features(&self) -> usize {
        self.features
    }

    pub fn forward(&self, x: Tensor<4>, mask: Option<Tensor<2>>) -> Tensor<2> {
        self.head_fc.forward(dropout(self.features(x), mask))
    }

    /// Pooled, normalised features [batch, num_features], the input of the head.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = layer_norm_2d(&self.stem_norm, self.stem_conv.forward(x));
        for stage in &self.stages {
            if let Some(down) = &stage.downsample {
                x = down.conv.forward(layer_norm_2d(&down.norm, x));
            }
            for block in &stage.blocks {
                x = block.forward(x);
            }
        }
        self.head_norm.forward(global_avg_pool(x))
    }
}
