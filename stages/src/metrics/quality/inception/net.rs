//! The network: pytorch-fid's `fid_inception_v3` up to the 2048-d pool3 features, in
//! eval mode, with every BatchNorm folded into the convolution before it.
//!
//! Differences from torchvision's Inception3 that pytorch-fid patches in (and so do we):
//! the 3×3 average pools of Mixed_5b–5d, 6b–6e and 7b exclude the zero padding from the
//! mean (TensorFlow's behaviour), and Mixed_7c pools its last branch with a 3×3 *max*
//! pool. BatchNorm eps is 0.001.

use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};

use super::weights::WeightSource;

/// `BasicConv2d`: a bias-free convolution, BatchNorm(eps 0.001) and ReLU; stored with the
/// BatchNorm folded in (`w·γ/√(σ²+ε)`, bias `β − μ·γ/√(σ²+ε)`).
pub(super) struct ConvBn {
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
}

/// Shape of one `BasicConv2d`: output channels, kernel, stride and padding (per axis).
#[derive(Debug, Clone, Copy)]
pub(super) struct ConvShape {
    pub out: usize,
    pub kernel: [usize; 2],
    pub stride: usize,
    pub padding: [usize; 2],
}

const fn k1(out: usize) -> ConvShape {
    ConvShape {
        out,
        kernel: [1, 1],
        stride: 1,
        padding: [0, 0],
    }
}

const fn k3(out: usize, stride: usize, padding: usize) -> ConvShape {
    ConvShape {
        out,
        kernel: [3, 3],
        stride,
        padding: [padding, padding],
    }
}

/// A 1×n (`row`) or n×1 convolution with "same" padding.
const fn line(out: usize, n: usize, row: bool) -> ConvShape {
    let (kernel, padding) = if row {
        ([1, n], [0, n / 2])
    } else {
        ([n, 1], [n / 2, 0])
    };
    ConvShape {
        out,
        kernel,
        stride: 1,
        padding,
    }
}

impl ConvBn {
    fn new(source: &mut dyn WeightSource, name: &str, input: usize, shape: ConvShape) -> ConvBn {
        let ConvShape {
            out,
            kernel: [kh, kw],
            stride,
            padding,
        } = shape;
        let device = source.device().clone();
        let options = ConvOptions::new([stride, stride], padding, [1, 1], 1);
        match source.conv(name, [out, input, kh, kw]) {
            Some(folded) => ConvBn {
                weight: Tensor::from_data(
                    TensorData::new(folded.weight, [out, input, kh, kw]),
                    &device,
                ),
                bias: Tensor::from_data(TensorData::new(folded.bias, [out]), &device),
                options,
            },
            // A placeholder: the source records why, and the network is never run.
            None => ConvBn {
                weight: Tensor::zeros([1, 1, 1, 1], &device),
                bias: Tensor::zeros([1], &device),
                options,
            },
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(conv2d(
            x,
            self.weight.clone(),
            Some(self.bias.clone()),
            self.options.clone(),
        ))
    }
}

fn max_pool_3x3_stride_2(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]))
}

/// pytorch-fid's patched pool: `avg_pool2d(x, 3, stride=1, padding=1,
/// count_include_pad=False)`.
fn avg_pool_3x3_same(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(
        x,
        AvgPoolOptions::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1])
            .with_count_include_pad(false),
    )
}

fn max_pool_3x3_same(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(
        x,
        MaxPoolOptions::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1]),
    )
}

/// Builds the convolutions of one block, named `<block>.<branch>` as in the state dict.
struct Block<'a> {
    source: &'a mut dyn WeightSource,
    name: &'a str,
    input: usize,
}

impl<'a> Block<'a> {
    fn new(source: &'a mut dyn WeightSource, name: &'a str, input: usize) -> Self {
        Self {
            source,
            name,
            input,
        }
    }

    /// A branch whose input is the block's input.
    fn conv(&mut self, branch: &str, shape: ConvShape) -> ConvBn {
        let input = self.input;
        self.chain(branch, input, shape)
    }

    /// A branch fed by another branch with `input` channels.
    fn chain(&mut self, branch: &str, input: usize, shape: ConvShape) -> ConvBn {
        ConvBn::new(
            self.source,
            &format!("{}.{branch}", self.name),
            input,
            shape,
        )
    }
}

/// `FIDInceptionA` (Mixed_5b–5d): 64 + 64 + 96 + `pool_features` channels.
struct InceptionA {
    branch1x1: ConvBn,
    branch5x5: [ConvBn; 2],
    branch3x3dbl: [ConvBn; 3],
    branch_pool: ConvBn,
}

impl InceptionA {
    fn new(source: &mut dyn WeightSource, name: &str, input: usize, pool: usize) -> Self {
        let mut b = Block::new(source, name, input);
        Self {
            branch1x1: b.conv("branch1x1", k1(64)),
            branch5x5: [
                b.conv("branch5x5_1", k1(48)),
                b.chain("branch5x5_2", 48, k3(64, 1, 2).with_kernel(5)),
            ],
            branch3x3dbl: [
                b.conv("branch3x3dbl_1", k1(64)),
                b.chain("branch3x3dbl_2", 64, k3(96, 1, 1)),
                b.chain("branch3x3dbl_3", 96, k3(96, 1, 1)),
            ],
            branch_pool: b.conv("branch_pool", k1(pool)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        Tensor::cat(
            vec![
                self.branch1x1.forward(x.clone()),
                chain(&self.branch5x5, x.clone()),
                chain(&self.branch3x3dbl, x.clone()),
                self.branch_pool.forward(avg_pool_3x3_same(x)),
            ],
            1,
        )
    }
}

/// torchvision's `InceptionB` (Mixed_6a): 384 + 96 + input channels, half the size.
struct InceptionB {
    branch3x3: ConvBn,
    branch3x3dbl: [ConvBn; 3],
}

impl InceptionB {
    fn new(source: &mut dyn WeightSource, name: &str, input: usize) -> Self {
        let mut b = Block::new(source, name, input);
        Self {
            branch3x3: b.conv("branch3x3", k3(384, 2, 0)),
            branch3x3dbl: [
                b.conv("branch3x3dbl_1", k1(64)),
                b.chain("branch3x3dbl_2", 64, k3(96, 1, 1)),
                b.chain("branch3x3dbl_3", 96, k3(96, 2, 0)),
            ],
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        Tensor::cat(
            vec![
                self.branch3x3.forward(x.clone()),
                chain(&self.branch3x3dbl, x.clone()),
                max_pool_3x3_stride_2(x),
            ],
            1,
        )
    }
}

/// `FIDInceptionC` (Mixed_6b–6e): 4 × 192 channels, factorised 7×7 convolutions.
struct InceptionC {
    branch1x1: ConvBn,
    branch7x7: [ConvBn; 3],
    branch7x7dbl: [ConvBn; 5],
    branch_pool: ConvBn,
}

impl InceptionC {
    fn new(source: &mut dyn WeightSource, name: &str, input: usize, c7: usize) -> Self {
        let mut b = Block::new(source, name, input);
        Self {
            branch1x1: b.conv("branch1x1", k1(192)),
            branch7x7: [
                b.conv("branch7x7_1", k1(c7)),
                b.chain("branch7x7_2", c7, line(c7, 7, true)),
                b.chain("branch7x7_3", c7, line(192, 7, false)),
            ],
            branch7x7dbl: [
                b.conv("branch7x7dbl_1", k1(c7)),
                b.chain("branch7x7dbl_2", c7, line(c7, 7, false)),
                b.chain("branch7x7dbl_3", c7, line(c7, 7, true)),
                b.chain("branch7x7dbl_4", c7, line(c7, 7, false)),
                b.chain("branch7x7dbl_5", c7, line(192, 7, true)),
            ],
            branch_pool: b.conv("branch_pool", k1(192)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        Tensor::cat(
            vec![
                self.branch1x1.forward(x.clone()),
                chain(&self.branch7x7, x.clone()),
                chain(&self.branch7x7dbl, x.clone()),
                self.branch_pool.forward(avg_pool_3x3_same(x)),
            ],
            1,
        )
    }
}

/// torchvision's `InceptionD` (Mixed_7a): 320 + 192 + input channels, half the size.
struct InceptionD {
    branch3x3: [ConvBn; 2],
    branch7x7x3: [ConvBn; 4],
}

impl InceptionD {
    fn new(source: &mut dyn WeightSource, name: &str, input: usize) -> Self {
        let mut b = Block::new(source, name, input);
        Self {
            branch3x3: [
                b.conv("branch3x3_1", k1(192)),
                b.chain("branch3x3_2", 192, k3(320, 2, 0)),
            ],
            branch7x7x3: [
                b.conv("branch7x7x3_1", k1(192)),
                b.chain("branch7x7x3_2", 192, line(192, 7, true)),
                b.chain("branch7x7x3_3", 192, line(192, 7, false)),
                b.chain("branch7x7x3_4", 192, k3(192, 2, 0)),
            ],
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        Tensor::cat(
            vec![
                chain(&self.branch3x3, x.clone()),
                chain(&self.branch7x7x3, x.clone()),
                max_pool_3x3_stride_2(x),
            ],
            1,
        )
    }
}

/// `FIDInceptionE_1` (Mixed_7b, average pool) and `FIDInceptionE_2` (Mixed_7c, max
/// pool): 320 + 768 + 768 + 192 = 2048 channels.
struct InceptionE {
    branch1x1: ConvBn,
    branch3x3_1: ConvBn,
    branch3x3_2: [ConvBn; 2],
    branch3x3dbl_1: [ConvBn; 2],
    branch3x3dbl_3: [ConvBn; 2],
    branch_pool: ConvBn,
    max_pool: bool,
}

impl InceptionE {
    fn new(source: &mut dyn WeightSource, name: &str, input: usize, max_pool: bool) -> Self {
        let mut b = Block::new(source, name, input);
        Self {
            branch1x1: b.conv("branch1x1", k1(320)),
            branch3x3_1: b.conv("branch3x3_1", k1(384)),
            branch3x3_2: [
                b.chain("branch3x3_2a", 384, line(384, 3, true)),
                b.chain("branch3x3_2b", 384, line(384, 3, false)),
            ],
            branch3x3dbl_1: [
                b.conv("branch3x3dbl_1", k1(448)),
                b.chain("branch3x3dbl_2", 448, k3(384, 1, 1)),
            ],
            branch3x3dbl_3: [
                b.chain("branch3x3dbl_3a", 384, line(384, 3, true)),
                b.chain("branch3x3dbl_3b", 384, line(384, 3, false)),
            ],
            branch_pool: b.conv("branch_pool", k1(192)),
            max_pool,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let split = |pair: &[ConvBn; 2], y: Tensor<4>| {
            Tensor::cat(vec![pair[0].forward(y.clone()), pair[1].forward(y)], 1)
        };
        let branch3x3 = split(&self.branch3x3_2, self.branch3x3_1.forward(x.clone()));
        let branch3x3dbl = split(&self.branch3x3dbl_3, chain(&self.branch3x3dbl_1, x.clone()));
        let pooled = if self.max_pool {
            max_pool_3x3_same(x.clone())
        } else {
            avg_pool_3x3_same(x.clone())
        };
        Tensor::cat(
            vec![
                self.branch1x1.forward(x),
                branch3x3,
                branch3x3dbl,
                self.branch_pool.forward(pooled),
            ],
            1,
        )
    }
}

/// Applies convolutions one after the other.
fn chain(convs: &[ConvBn], x: Tensor<4>) -> Tensor<4> {
    convs.iter().fold(x, |y, conv| conv.forward(y))
}

impl ConvShape {
    const fn with_kernel(self, n: usize) -> ConvShape {
        ConvShape {
            kernel: [n, n],
            ..self
        }
    }
}

/// The whole network; `block0`..`block3` are pytorch-fid's `InceptionV3.blocks`.
pub(super) struct Net {
    stem: [ConvBn; 3],
    stem2: [ConvBn; 2],
    mixed_5: [InceptionA; 3],
    mixed_6a: InceptionB,
    mixed_6: [InceptionC; 4],
    mixed_7a: InceptionD,
    mixed_7: [InceptionE; 2],
}

impl Net {
    pub(super) fn new(source: &mut dyn WeightSource) -> Net {
        let mut conv =
            |name: &str, input: usize, shape: ConvShape| ConvBn::new(source, name, input, shape);
        let stem = [
            conv("Conv2d_1a_3x3", 3, k3(32, 2, 0)),
            conv("Conv2d_2a_3x3", 32, k3(32, 1, 0)),
            conv("Conv2d_2b_3x3", 32, k3(64, 1, 1)),
        ];
        let stem2 = [
            conv("Conv2d_3b_1x1", 64, k1(80)),
            conv("Conv2d_4a_3x3", 80, k3(192, 1, 0)),
        ];
        Net {
            stem,
            stem2,
            mixed_5: [
                InceptionA::new(source, "Mixed_5b", 192, 32),
                InceptionA::new(source, "Mixed_5c", 256, 64),
                InceptionA::new(source, "Mixed_5d", 288, 64),
            ],
            mixed_6a: InceptionB::new(source, "Mixed_6a", 288),
            mixed_6: [
                InceptionC::new(source, "Mixed_6b", 768, 128),
                InceptionC::new(source, "Mixed_6c", 768, 160),
                InceptionC::new(source, "Mixed_6d", 768, 160),
                InceptionC::new(source, "Mixed_6e", 768, 192),
            ],
            mixed_7a: InceptionD::new(source, "Mixed_7a", 768),
            mixed_7: [
                InceptionE::new(source, "Mixed_7b", 1280, false),
                InceptionE::new(source, "Mixed_7c", 2048, true),
            ],
        }
    }

    /// Input (`[n, 3, 299, 299]` in [-1, 1]) to the first max pool: `[n, 64, 73, 73]`.
    pub(super) fn block0(&self, x: Tensor<4>) -> Tensor<4> {
        max_pool_3x3_stride_2(chain(&self.stem, x))
    }

    /// To the second max pool: `[n, 192, 35, 35]`.
    pub(super) fn block1(&self, x: Tensor<4>) -> Tensor<4> {
        max_pool_3x3_stride_2(chain(&self.stem2, x))
    }

    /// Mixed_5b to Mixed_6e: `[n, 768, 17, 17]`.
    pub(super) fn block2(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.mixed_5.iter().fold(x, |y, block| block.forward(y));
        let x = self.mixed_6a.forward(x);
        self.mixed_6.iter().fold(x, |y, block| block.forward(y))
    }

    /// Mixed_7a to the global average pool: `[n, 2048, 1, 1]`.
    pub(super) fn block3(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.mixed_7a.forward(x);
        let x = self.mixed_7.iter().fold(x, |y, block| block.forward(y));
        x.mean_dim(3).mean_dim(2)
    }

    pub(super) fn device(&self) -> Device {
        self.stem[0].weight.device()
    }
}
