//! ResNet-50 v1.5 (He et al. 2016; torchvision's variant with the stride on the 3×3 conv).
//!
//! Parameter paths match timm's `resnet50` (`layer1.0.conv1.weight`, …) except the
//! shortcut, which timm stores as `downsample.0`/`downsample.1`.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::config::ModelSpec;
use super::layers::{batch_norm, conv, dropout, global_avg_pool, scale_blocks, scale_channels};

/// Blocks per stage of ResNet-50.
const STAGE_BLOCKS: [usize; 4] = [3, 4, 6, 3];
/// Output channels of a bottleneck are 4× its inner width.
const EXPANSION: usize = 4;

#[derive(Module, Debug)]
pub struct Shortcut {
    conv: Conv2d,
    bn: BatchNorm,
}

#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    bn3: BatchNorm,
    downsample: Option<Shortcut>,
}

impl Bottleneck {
    fn new(in_ch: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let out_ch = planes * EXPANSION;
        let downsample = (stride != 1 || in_ch != out_ch).then(|| Shortcut {
            conv: conv([in_ch, out_ch], 1, stride, 1, false, device),
            bn: batch_norm(out_ch, device),
        });
        Self {
            conv1: conv([in_ch, planes], 1, 1, 1, false, device),
            bn1: batch_norm(planes, device),
            conv2: conv([planes, planes], 3, stride, 1, false, device),
            bn2: batch_norm(planes, device),
            conv3: conv([planes, out_ch], 1, 1, 1, false, device),
            bn3: batch_norm(out_ch, device),
            downsample,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(short) => short.bn.forward(short.conv.forward(x.clone())),
            None => x.clone(),
        };
        let out = relu(self.bn1.forward(self.conv1.forward(x)));
        let out = relu(self.bn2.forward(self.conv2.forward(out)));
        let out = self.bn3.forward(self.conv3.forward(out));
        relu(out + identity)
    }
}

#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    maxpool: MaxPool2d,
    layer1: Vec<Bottleneck>,
    layer2: Vec<Bottleneck>,
    layer3: Vec<Bottleneck>,
    layer4: Vec<Bottleneck>,
    fc: Linear,
    /// Width of the pooled features that feed `fc`.
    features: usize,
}

impl ResNet {
    pub fn new(spec: &ModelSpec, device: &Device) -> Self {
        let stem = scale_channels(64, spec.width);
        let mut in_ch = stem;
        let mut stage = |i: usize| -> Vec<Bottleneck> {
            let planes = scale_channels(64 << i, spec.width);
            (0..scale_blocks(STAGE_BLOCKS[i], spec.depth))
                .map(|b| {
                    let stride = if i > 0 && b == 0 { 2 } else { 1 };
                    let block = Bottleneck::new(in_ch, planes, stride, device);
                    in_ch = planes * EXPANSION;
                    block
                })
                .collect()
        };
        let (layer1, layer2, layer3, layer4) = (stage(0), stage(1), stage(2), stage(3));
        Self {
            conv1: conv([spec.in_channels, stem], 7, 2, 1, false, device),
            bn1: batch_norm(stem, device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1,
            layer2,
            layer3,
            layer4,
            fc: LinearConfig::new(in_ch, spec.num_classes).init(device),
            features: in_ch,
        }
    }

    pub fn num_features(&self) -> usize {
        self.features
    }

    pub fn forward(&self, x: Tensor<4>, mask: Option<Tensor<2>>) -> Tensor<2> {
        self.fc.forward(dropout(self.features(x), mask))
    }

    /// Pooled features [batch, num_features], the input of the classification head.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.bn1.forward(self.conv1.forward(x)));
        let mut x = self.maxpool.forward(x);
        for block in self
            .layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
        {
            x = block.forward(x);
        }
        global_avg_pool(x)
    }
}
