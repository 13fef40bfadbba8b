//! The StyleGAN2 generator (Karras et al. 2020, "config F" minus style mixing and path
//! length regularisation): a mapping network turns (z, class) into w; the synthesis
//! network starts from a learned 4×4 constant and, per resolution, upsamples ×2 and
//! applies two 3×3 modulated convolutions with weight demodulation, each followed by a
//! per-pixel noise input with a learned per-channel strength, a bias and leaky ReLU; a
//! 1×1 "toGray" layer per resolution adds to the upsampled image of the previous one.

use burn::module::{Module, Param};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use super::layers::{EqLinear, Init, lrelu, normalize_2nd_moment, upsample2};
use crate::generators::StyleGanSpec;

/// The mapping network's learning-rate multiplier (StyleGAN's 0.01).
const MAPPING_LR_MUL: f64 = 0.01;

/// StyleGAN2's modulated convolution in its "fused_modconv = False" form: scale the
/// input's channels by the per-sample style s, convolve with the shared weight, then
/// (with `demodulate`) divide each output channel by √(Σ_{in,k} (w·s)² + 1e-8), the norm
/// of the per-sample weight it stands for. Equivalent to convolving each sample with its
/// own modulated, demodulated weight, without grouped convolutions.
///
/// `x`: [b, in, h, w]; `weight`: [out, in, k, k]; `styles`: [b, in].
pub(crate) fn modulated_conv(
    x: Tensor<4>,
    weight: Tensor<4>,
    styles: Tensor<2>,
    demodulate: bool,
) -> Tensor<4> {
    let [b, c_in] = styles.dims();
    let [c_out, _, k, _] = weight.dims();
    let x = x * styles.clone().reshape([b, c_in, 1, 1]);
    let padding = k / 2;
    let y = conv2d(
        x,
        weight.clone(),
        None,
        ConvOptions::new([1, 1], [padding, padding], [1, 1], 1),
    );
    if !demodulate {
        return y;
    }
    // Σ_k w[o, i, k]² as [in, out]; then Σ_i s[b, i]²·that = Σ_{i,k} (w·s)² per (b, o).
    let w_sq = weight
        .powi_scalar(2)
        .sum_dim(3)
        .sum_dim(2)
        .reshape([c_out, c_in])
        .transpose();
    let d = styles
        .powi_scalar(2)
        .matmul(w_sq)
        .add_scalar(1e-8)
        .sqrt()
        .recip();
    y * d.reshape([b, c_out, 1, 1])
}

/// One modulated layer: affine style from w, modulated conv, noise, bias, activation.
#[derive(Module, Debug)]
pub(crate) struct StyleLayer {
    affine: EqLinear,
    /// [out, in, k, k], N(0, 1).
    weight: Param<Tensor<4>>,
    bias: Param<Tensor<1>>,
    /// Per-channel strength of the noise input; none for toGray layers.
    noise_strength: Option<Param<Tensor<1>>>,
    /// toGray: no demodulation and no activation; styles carry the weight's gain instead.
    to_gray: bool,
    weight_gain: f64,
}

impl StyleLayer {
    fn new(
        init: &mut Init,
        w_dim: usize,
        channels: [usize; 2],
        to_gray: bool,
        device: &Device,
    ) -> Self {
        let [c_in, c_out] = channels;
        let k = if to_gray { 1 } else { 3 };
        Self {
            // Styles start at 1 (bias 1), as in StyleGAN2.
            affine: EqLinear::new(init, [w_dim, c_in], Some(1.0), 1.0, device),
            weight: init.normal([c_out, c_in, k, k], 1.0, device),
            bias: init.constant([c_out], 0.0, device),
            noise_strength: (!to_gray).then(|| init.constant([c_out], 0.0, device)),
            to_gray,
            weight_gain: 1.0 / ((c_in * k * k) as f64).sqrt(),
        }
    }

    /// `noise`: [b, 1, h, w] standard normal, for layers with a noise input.
    fn forward(&self, x: Tensor<4>, w: Tensor<2>, noise: Option<Tensor<4>>) -> Tensor<4> {
        let styles = self.affine.forward(w);
        let c_out = self.bias.dims()[0];
        let bias = self.bias.val().reshape([1, c_out, 1, 1]);
        if self.to_gray {
            let styles = styles.mul_scalar(self.weight_gain);
            return modulated_conv(x, self.weight.val(), styles, false) + bias;
        }
        let mut y = modulated_conv(x, self.weight.val(), styles, true);
        if let (Some(strength), Some(noise)) = (&self.noise_strength, noise) {
            y = y + noise * strength.val().reshape([1, c_out, 1, 1]);
        }
        lrelu(y + bias)
    }
}

/// (z, class) → w: both normalised to unit second moment, concatenated, then an MLP.
#[derive(Module, Debug)]
pub(crate) struct Mapping {
    embed: EqLinear,
    layers: Vec<EqLinear>,
}

impl Mapping {
    fn new(init: &mut Init, spec: &StyleGanSpec, device: &Device) -> Self {
        let embed = EqLinear::new(init, [spec.num_classes, spec.w_dim], Some(0.0), 1.0, device);
        let mut layers = Vec::with_capacity(spec.mapping_layers);
        let mut width = spec.z_dim + spec.w_dim;
        for _ in 0..spec.mapping_layers {
            layers.push(EqLinear::new(
                init,
                [width, spec.w_dim],
                Some(0.0),
                MAPPING_LR_MUL,
                device,
            ));
            width = spec.w_dim;
        }
        Self { embed, layers }
    }

    fn forward(&self, z: Tensor<2>, labels: Tensor<2>) -> Tensor<2> {
        let y = normalize_2nd_moment(self.embed.forward(labels));
        let mut x = Tensor::cat(vec![normalize_2nd_moment(z), y], 1);
        for layer in &self.layers {
            x = lrelu(layer.forward(x));
        }
        x
    }
}

/// One resolution of the synthesis network.
#[derive(Module, Debug)]
pub(crate) struct SynthesisBlock {
    /// After the ×2 upsampling; none in the 4×4 block.
    conv0: Option<StyleLayer>,
    conv1: StyleLayer,
    to_gray: StyleLayer,
}

#[derive(Module, Debug)]
pub(crate) struct Generator {
    mapping: Mapping,
    /// [channels, 4, 4].
    constant: Param<Tensor<3>>,
    blocks: Vec<SynthesisBlock>,
    z_dim: usize,
    num_classes: usize,
}

/// What one batch of images is drawn from: latents, one-hot classes and the noise maps.
pub(crate) struct GenInputs {
    /// [b, z_dim].
    pub z: Tensor<2>,
    /// [b, classes], one-hot.
    pub labels: Tensor<2>,
    /// One [b, 1, r, r] map per noise layer, in [`Generator::noise_sides`] order.
    pub noise: Vec<Tensor<4>>,
}

impl Generator {
    pub(crate) fn new(
        spec: &StyleGanSpec,
        image_size: u32,
        init: &mut Init,
        device: &Device,
    ) -> Self {
        let mapping = Mapping::new(init, spec, device);
        let c4 = spec.channels(image_size, 4);
        let constant = init.normal([c4, 4, 4], 1.0, device);
        let mut blocks = Vec::new();
        let mut res = 4;
        let mut c_prev = c4;
        while res <= image_size {
            let c = spec.channels(image_size, res);
            let conv0 =
                (res > 4).then(|| StyleLayer::new(init, spec.w_dim, [c_prev, c], false, device));
            let c_in = if res > 4 { c } else { c_prev };
            blocks.push(SynthesisBlock {
                conv0,
                conv1: StyleLayer::new(init, spec.w_dim, [c_in, c], false, device),
                to_gray: StyleLayer::new(init, spec.w_dim, [c, 1], true, device),
            });
            c_prev = c;
            res *= 2;
        }
        Self {
            mapping,
            constant,
            blocks,
            z_dim: spec.z_dim,
            num_classes: spec.num_classes,
        }
    }

    pub(crate) fn z_dim(&self) -> usize {
        self.z_dim
    }

    pub(crate) fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The side of each noise layer's map, in the order `forward` consumes them.
    pub(crate) fn noise_sides(&self) -> Vec<usize> {
        let mut sides = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let side = 4 << i;
            if block.conv0.is_some() {
                sides.push(side);
            }
            sides.push(side);
        }
        sides
    }

    /// Images [b, 1, s, s], roughly in [−1, 1] (not clamped).
    pub(crate) fn forward(&self, inputs: GenInputs) -> Tensor<4> {
        let GenInputs { z, labels, noise } = inputs;
        self.synthesis(self.map(z, labels), noise)
    }

    /// The mapping network alone: w [b, w_dim] for latents [b, z_dim] and one-hot classes.
    pub(crate) fn map(&self, z: Tensor<2>, labels: Tensor<2>) -> Tensor<2> {
        self.mapping.forward(z, labels)
    }

    /// The synthesis network alone: images [b, 1, s, s] from w [b, w_dim] and the noise
    /// maps in [`Generator::noise_sides`] order.
    pub(crate) fn synthesis(&self, w: Tensor<2>, noise: Vec<Tensor<4>>) -> Tensor<4> {
        let b = w.dims()[0];
        let [c4, h, wd] = self.constant.dims();
        let mut x = self
            .constant
            .val()
            .unsqueeze_dim::<4>(0)
            .expand([b, c4, h, wd]);
        let mut noise = noise.into_iter();
        let mut image: Option<Tensor<4>> = None;
        for block in &self.blocks {
            if let Some(conv0) = &block.conv0 {
                x = conv0.forward(upsample2(x), w.clone(), noise.next());
            }
            x = block.conv1.forward(x, w.clone(), noise.next());
            let gray = block.to_gray.forward(x.clone(), w.clone(), None);
            image = Some(match image {
                Some(previous) => upsample2(previous) + gray,
                None => gray,
            });
        }
        image.unwrap_or_else(|| x.narrow(1, 0, 1))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;
    use crate::rng::{keyed_rng, normal, unit};

    fn tensor<const D: usize>(dims: [usize; D], purpose: &str, device: &Device) -> Tensor<D> {
        let mut rng = keyed_rng(7, purpose, &[]);
        let n = dims.iter().product();
        let values: Vec<f32> = (0..n).map(|_| normal(&mut rng)).collect();
        Tensor::from_data(TensorData::new(values, dims), device)
    }

    fn values(x: Tensor<4>) -> (Vec<f32>, [usize; 4]) {
        let dims = x.dims();
        (x.try_into_vec_as::<f32>().unwrap(), dims)
    }

    #[test]
    fn demodulation_gives_unit_variance_per_channel() {
        let device = Device::flex();
        let x = tensor([4, 16, 32, 32], "x", &device);
        let weight = tensor([8, 16, 3, 3], "w", &device);
        // Positive styles of very different sizes, as the affine layer gives.
        let mut rng = keyed_rng(7, "s", &[]);
        let styles: Vec<f32> = (0..4 * 16).map(|_| 0.1 + 3.0 * unit(&mut rng)).collect();
        let styles = Tensor::<2>::from_data(TensorData::new(styles, [4, 16]), &device);
        let (y, [b, c, h, w]) = values(modulated_conv(x, weight, styles, true));
        // Interior pixels only (zero padding lowers the border's variance): 4·30² = 3600
        // values per channel, so the sample variance's standard error is √(2/3600) ≈ 0.024;
        // allow 6 of them.
        for channel in 0..c {
            let mut sample = Vec::new();
            for image in 0..b {
                for row in 1..h - 1 {
                    for col in 1..w - 1 {
                        sample.push(f64::from(y[((image * c + channel) * h + row) * w + col]));
                    }
                }
            }
            let mean = sample.iter().sum::<f64>() / sample.len() as f64;
            let var = sample.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / sample.len() as f64;
            assert!(
                (var - 1.0).abs() < 0.15,
                "channel {channel}: variance {var}"
            );
        }
    }

    #[test]
    fn demodulated_output_ignores_the_style_scale() {
        let device = Device::flex();
        let x = tensor([2, 6, 8, 8], "x", &device);
        let weight = tensor([5, 6, 3, 3], "w", &device);
        let styles = tensor([2, 6], "s", &device).abs().add_scalar(0.2);
        let (once, _) = values(modulated_conv(
            x.clone(),
            weight.clone(),
            styles.clone(),
            true,
        ));
        let (twice, _) = values(modulated_conv(
            x.clone(),
            weight.clone(),
            styles.clone().mul_scalar(2.0),
            true,
        ));
        for (a, b) in once.iter().zip(&twice) {
            assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()), "{a} vs {b}");
        }
        // Without demodulation the output scales with the style.
        let (plain, _) = values(modulated_conv(x, weight, styles.mul_scalar(2.0), false));
        assert!(plain.iter().zip(&once).any(|(p, o)| (p - o).abs() > 0.1));
    }

    #[test]
    fn generator_shapes_and_noise_layers() {
        let device = Device::flex();
        let spec = StyleGanSpec {
            z_dim: 8,
            w_dim: 8,
            mapping_layers: 2,
            base_channels: 4,
            max_channels: 8,
            num_classes: 3,
        };
        let g = Generator::new(&spec, 32, &mut Init::new(1, "g"), &device);
        // 4: one conv; 8, 16, 32: two each.
        assert_eq!(g.noise_sides(), [4, 8, 8, 16, 16, 32, 32]);
        let noise = g
            .noise_sides()
            .iter()
            .map(|&s| tensor([2, 1, s, s], &format!("n{s}"), &device))
            .collect();
        let labels = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0], [2, 3]),
            &device,
        );
        let out = g.forward(GenInputs {
            z: tensor([2, 8], "z", &device),
            labels,
            noise,
        });
        assert_eq!(out.dims(), [2, 1, 32, 32]);
    }
}
