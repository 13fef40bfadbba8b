//! EfficientNet-B0/B1 (Tan & Le 2019): MBConv blocks with squeeze-excitation and swish.
//!
//! Parameter paths follow timm's `efficientnet_b0` (`conv_stem`, `blocks.<stage>.<block>`,
//! `conv_head`, `classifier`) with the block's layers named by role rather than by
//! position (timm's `bn1` is a different layer in the first stage than in the others).
//! Stochastic depth is not implemented (it is off in the study this stands in for).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::tensor::activation::{sigmoid, silu};
use burn::tensor::{Device, Tensor};

use super::config::ModelSpec;
use super::layers::{batch_norm, conv, dropout, global_avg_pool};

/// One stage of the B0 baseline: expansion ratio, kernel, stride of its first block,
/// output channels, number of blocks.
struct StageArgs {
    expand: usize,
    kernel: usize,
    stride: usize,
    channels: usize,
    repeats: usize,
}

const fn stage(
    expand: usize,
    kernel: usize,
    stride: usize,
    channels: usize,
    repeats: usize,
) -> StageArgs {
    StageArgs {
        expand,
        kernel,
        stride,
        channels,
        repeats,
    }
}

const B0_STAGES: [StageArgs; 7] = [
    stage(1, 3, 1, 16, 1),
    stage(6, 3, 2, 24, 2),
    stage(6, 5, 2, 40, 2),
    stage(6, 3, 2, 80, 3),
    stage(6, 5, 1, 112, 3),
    stage(6, 5, 2, 192, 4),
    stage(6, 3, 1, 320, 1),
];
const STEM_CHANNELS: usize = 32;
const HEAD_CHANNELS: usize = 1280;
/// Squeeze-excitation bottleneck: a quarter of the block's input channels.
const SE_RATIO: f64 = 0.25;

/// The paper's channel rounding: to a multiple of 8, never dropping more than 10%.
pub fn round_filters(channels: usize, width: f64) -> usize {
    let scaled = channels as f64 * width;
    let mut rounded = (((scaled + 4.0) / 8.0).floor() as usize * 8).max(8);
    if (rounded as f64) < 0.9 * scaled {
        rounded += 8;
    }
    rounded
}

/// The paper's block-count rounding: always up.
pub fn round_repeats(repeats: usize, depth: f64) -> usize {
    ((repeats as f64 * depth).ceil() as usize).max(1)
}

#[derive(Module, Debug)]
pub struct SqueezeExcite {
    conv_reduce: Conv2d,
    conv_expand: Conv2d,
}

impl SqueezeExcite {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let scale = x.clone().mean_dim(3).mean_dim(2);
        let scale = silu(self.conv_reduce.forward(scale));
        let scale = sigmoid(self.conv_expand.forward(scale));
        x * scale
    }
}

/// An inverted-residual block; with expansion 1 (the first stage) it has no expansion
/// conv and is timm's "depthwise-separable" block.
#[derive(Module, Debug)]
pub struct MbConv {
    expand_conv: Option<Conv2d>,
    expand_bn: Option<BatchNorm>,
    dw_conv: Conv2d,
    dw_bn: BatchNorm,
    se: SqueezeExcite,
    project_conv: Conv2d,
    project_bn: BatchNorm,
    residual: bool,
}

impl MbConv {
    fn new(
        in_ch: usize,
        out_ch: usize,
        expand: usize,
        kernel: usize,
        stride: usize,
        device: &Device,
    ) -> Self {
        let mid = in_ch * expand;
        let se_ch = ((in_ch as f64 * SE_RATIO) as usize).max(1);
        let (expand_conv, expand_bn) = if expand == 1 {
            (None, None)
        } else {
            (
                Some(conv([in_ch, mid], 1, 1, 1, false, device)),
                Some(batch_norm(mid, device)),
            )
        };
        Self {
            expand_conv,
            expand_bn,
            dw_conv: conv([mid, mid], kernel, stride, mid, false, device),
            dw_bn: batch_norm(mid, device),
            se: SqueezeExcite {
                conv_reduce: conv([mid, se_ch], 1, 1, 1, true, device),
                conv_expand: conv([se_ch, mid], 1, 1, 1, true, device),
            },
            project_conv: conv([mid, out_ch], 1, 1, 1, false, device),
            project_bn: batch_norm(out_ch, device),
            residual: stride == 1 && in_ch == out_ch,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = self.residual.then(|| x.clone());
        let mut out = x;
        if let (Some(conv), Some(bn)) = (&self.expand_conv, &self.expand_bn) {
            out = silu(bn.forward(conv.forward(out)));
        }
        let out = silu(self.dw_bn.forward(self.dw_conv.forward(out)));
        let out = self.se.forward(out);
        let out = self.project_bn.forward(self.project_conv.forward(out));
        match shortcut {
            Some(shortcut) => out + shortcut,
            None => out,
        }
    }
}

#[derive(Module, Debug)]
pub struct EfficientNet {
    conv_stem: Conv2d,
    bn1: BatchNorm,
    blocks: Vec<Vec<MbConv>>,
    conv_head: Conv2d,
    bn2: BatchNorm,
    classifier: Linear,
    features: usize,
}

impl EfficientNet {
    /// `width`/`depth` are the architecture's coefficients times the spec's multipliers
    /// (B0: 1.0/1.0, B1: 1.0/1.1).
    pub fn new(spec: &ModelSpec, arch_width: f64, arch_depth: f64, device: &Device) -> Self {
        let width = arch_width * spec.width;
        let depth = arch_depth * spec.depth;
        let stem = round_filters(STEM_CHANNELS, width);
        let mut in_ch = stem;
        let blocks = B0_STAGES
            .iter()
            .map(|args| {
                let out_ch = round_filters(args.channels, width);
                (0..round_repeats(args.repeats, depth))
                    .map(|b| {
                        let stride = if b == 0 { args.stride } else { 1 };
                        let block =
                            MbConv::new(in_ch, out_ch, args.expand, args.kernel, stride, device);
                        in_ch = out_ch;
                        block
                    })
                    .collect()
            })
            .collect();
        let head = round_filters(HEAD_CHANNELS, width);
        Self {
            conv_stem: conv([spec.in_channels, stem], 3, 2, 1, false, device),
            bn1: batch_norm(stem, device),
            blocks,
            conv_head: conv([in_ch, head], 1, 1, 1, false, device),
            bn2: batch_norm(head, device),
            classifier: LinearConfig::new(head, spec.num_classes).init(device),
            features: head,
        }
    }

    pub fn num_features(&self) -> usize {
        self.features
    }

    pub fn forward(&self, x: Tensor<4>, mask: Option<Tensor<2>>) -> Tensor<2> {
        self.classifier.forward(dropout(self.features(x), mask))
    }

    /// Pooled features [batch, num_features], the input of the classification head.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = silu(self.bn1.forward(self.conv_stem.forward(x)));
        for block in self.blocks.iter().flatten() {
            x = block.forward(x);
        }
        let x = silu(self.bn2.forward(self.conv_head.forward(x)));
        global_avg_pool(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_follows_the_paper() {
        assert_eq!(round_filters(32, 1.0), 32);
        assert_eq!(round_filters(1280, 1.0), 1280);
        // B2 (width 1.1): 32 → 35.2 → 32 is within 10%, so stays 32; 1280 → 1408.
        assert_eq!(round_filters(32, 1.1), 32);
        assert_eq!(round_filters(1280, 1.1), 1408);
        assert_eq!(round_filters(16, 0.1), 8);
        let b1: Vec<usize> = B0_STAGES
            .iter()
            .map(|s| round_repeats(s.repeats, 1.1))
            .collect();
        assert_eq!(b1, [2, 3, 3, 4, 4, 5, 2]);
    }
}
