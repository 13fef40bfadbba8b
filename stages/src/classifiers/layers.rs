//! Small building blocks shared by the architectures.
//!
//! Field names in the architectures mirror timm's, so that ImageNet weights load with a
//! short rename table (see `pretrained.rs`); that is why there is no `ConvBn` wrapper
//! here (it would add a level to every parameter path).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, LayerNorm, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

/// A 2-D convolution with symmetric "same-ish" padding (kernel / 2), as in torchvision and
/// timm's PyTorch-native models.
pub(super) fn conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_bias(bias)
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init(device)
}

/// A convolution whose padding is zero (patchify stems, ConvNeXt downsampling).
pub(super) fn conv_valid(channels: [usize; 2], kernel: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([kernel, kernel])
        .init(device)
}

pub(super) fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}

/// LayerNorm over the channels of an NCHW tensor ("LayerNorm2d" in timm).
pub(super) fn layer_norm_2d(norm: &LayerNorm, x: Tensor<4>) -> Tensor<4> {
    norm.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
}

/// Global average pooling: [B, C, H, W] → [B, C].
pub(super) fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([batch, channels])
}

/// Applies a precomputed dropout mask (already scaled by 1 / keep). The mask comes from
/// our own seeded stream rather than Burn's, whose RNG is global per backend and so
/// shared with every other model in the process.
pub(super) fn dropout(x: Tensor<2>, mask: Option<Tensor<2>>) -> Tensor<2> {
    match mask {
        Some(mask) => x * mask,
        None => x,
    }
}

/// Scales a channel count by `width`, keeping at least one channel.
pub(super) fn scale_channels(channels: usize, width: f64) -> usize {
    ((channels as f64 * width).round() as usize).max(1)
}

/// Scales a block count by `depth`, keeping at least one block.
pub(super) fn scale_blocks(blocks: usize, depth: f64) -> usize {
    ((blocks as f64 * depth).round() as usize).max(1)
}
