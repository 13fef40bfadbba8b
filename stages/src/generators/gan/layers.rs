//! Equalized-learning-rate layers (Karras et al. 2018, kept by StyleGAN2): weights are
//! stored N(0, 1) and scaled by He's constant 1/√fan_in at run time, so Adam's
//! per-parameter steps are equally effective in every layer. They are initialised on the
//! host from one keyed stream, so the same seed gives the same network on every backend.

use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use crate::rng::{keyed_rng, normal};

/// Draws every initial parameter of one network, in construction order.
pub(crate) struct Init {
    rng: ChaCha8Rng,
}

impl Init {
    pub(crate) fn new(seed: u64, purpose: &str) -> Self {
        Self {
            rng: keyed_rng(seed, purpose, &[]),
        }
    }

    /// A parameter of N(0, `std`²) values.
    pub(crate) fn normal<const D: usize>(
        &mut self,
        dims: [usize; D],
        std: f32,
        device: &Device,
    ) -> Param<Tensor<D>> {
        let n = dims.iter().product();
        let values: Vec<f32> = (0..n).map(|_| normal(&mut self.rng) * std).collect();
        Param::from_data(TensorData::new(values, dims), device)
    }

    /// A parameter filled with `value`.
    pub(crate) fn constant<const D: usize>(
        &mut self,
        dims: [usize; D],
        value: f32,
        device: &Device,
    ) -> Param<Tensor<D>> {
        let n = dims.iter().product();
        Param::from_data(TensorData::new(vec![value; n], dims), device)
    }
}

/// Leaky ReLU (slope 0.2) times √2, which keeps unit variance through a layer.
pub(crate) fn lrelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let gain = std::f64::consts::SQRT_2;
    relu(x.clone()).mul_scalar(0.8 * gain) + x.mul_scalar(0.2 * gain)
}

/// x / √(mean(x²) + 1e-8) over each row.
pub(crate) fn normalize_2nd_moment(x: Tensor<2>) -> Tensor<2> {
    let scale = x
        .clone()
        .powi_scalar(2)
        .mean_dim(1)
        .add_scalar(1e-8)
        .sqrt()
        .recip();
    x * scale
}

/// Fully connected layer y = x·(g·W) + b·lr_mul with g = lr_mul/√in.
#[derive(Module, Debug)]
pub(crate) struct EqLinear {
    /// [in, out].
    weight: Param<Tensor<2>>,
    bias: Option<Param<Tensor<1>>>,
    weight_gain: f64,
    bias_gain: f64,
}

impl EqLinear {
    /// `bias`: the bias's initial value, or none for no bias. `lr_mul` slows the layer's
    /// effective learning rate (0.01 in the mapping network).
    pub(crate) fn new(
        init: &mut Init,
        channels: [usize; 2],
        bias: Option<f32>,
        lr_mul: f64,
        device: &Device,
    ) -> Self {
        let [fan_in, out] = channels;
        Self {
            weight: init.normal([fan_in, out], (1.0 / lr_mul) as f32, device),
            bias: bias.map(|value| init.constant([out], value, device)),
            weight_gain: lr_mul / (fan_in as f64).sqrt(),
            bias_gain: lr_mul,
        }
    }

    pub(crate) fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let y = x.matmul(self.weight.val().mul_scalar(self.weight_gain));
        match &self.bias {
            Some(bias) => y + bias.val().mul_scalar(self.bias_gain).unsqueeze_dim(0),
            None => y,
        }
    }
}

/// k×k convolution (stride 1, "same" padding) with an equalized-learning-rate weight.
#[derive(Module, Debug)]
pub(crate) struct EqConv {
    /// [out, in, k, k].
    weight: Param<Tensor<4>>,
    bias: Option<Param<Tensor<1>>>,
    gain: f64,
    padding: usize,
}

impl EqConv {
    pub(crate) fn new(
        init: &mut Init,
        channels: [usize; 2],
        kernel: usize,
        bias: bool,
        device: &Device,
    ) -> Self {
        let [fan_in, out] = channels;
        Self {
            weight: init.normal([out, fan_in, kernel, kernel], 1.0, device),
            bias: bias.then(|| init.constant([out], 0.0, device)),
            gain: 1.0 / ((fan_in * kernel * kernel) as f64).sqrt(),
            padding: kernel / 2,
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(
            x,
            self.weight.val().mul_scalar(self.gain),
            self.bias.as_ref().map(Param::val),
            ConvOptions::new([1, 1], [self.padding, self.padding], [1, 1], 1),
        )
    }
}

/// Nearest-neighbour ×2 upsampling by broadcasting, which every backend differentiates.
pub(crate) fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

/// 2×2 average pooling (a box filter before decimation).
pub(crate) fn downsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h / 2, 2, w / 2, 2])
        .sum_dim(5)
        .sum_dim(3)
        .reshape([b, c, h / 2, w / 2])
        .mul_scalar(0.25)
}
