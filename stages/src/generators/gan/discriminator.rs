//! The StyleGAN2 residual discriminator with projection conditioning (Miyato & Koyama
//! 2018): fromGray, one residual block per resolution down to 4×4 (two 3×3 convs and a
//! 2×2 average-pool, plus a pooled 1×1 skip, summed with weight 1/√2), an optional
//! minibatch-stddev channel, a 3×3 conv and a linear layer to features φ(x); the output is
//! linear(φ) + ⟨embed(y), φ⟩/√dim(φ).

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::layers::{EqConv, EqLinear, Init, downsample2, lrelu};
use crate::generators::StyleGanSpec;

#[derive(Module, Debug)]
pub(crate) struct DBlock {
    conv0: EqConv,
    conv1: EqConv,
    skip: EqConv,
}

impl DBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let skip = self.skip.forward(downsample2(x.clone()));
        let h = lrelu(self.conv0.forward(x));
        let h = downsample2(lrelu(self.conv1.forward(h)));
        (skip + h).mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
    }
}

#[derive(Module, Debug)]
pub(crate) struct Discriminator {
    from_gray: EqConv,
    blocks: Vec<DBlock>,
    conv: EqConv,
    fc: EqLinear,
    out: EqLinear,
    /// [classes, features] class embedding for the projection term.
    embed: Param<Tensor<2>>,
    mbstd_group: usize,
}

impl Discriminator {
    pub(crate) fn new(
        spec: &StyleGanSpec,
        image_size: u32,
        mbstd_group: usize,
        init: &mut Init,
        device: &Device,
    ) -> Self {
        let top = spec.channels(image_size, image_size);
        let from_gray = EqConv::new(init, [1, top], 1, true, device);
        let mut blocks = Vec::new();
        let mut res = image_size;
        while res > 4 {
            let (c_in, c_out) = (
                spec.channels(image_size, res),
                spec.channels(image_size, res / 2),
            );
            blocks.push(DBlock {
                conv0: EqConv::new(init, [c_in, c_in], 3, true, device),
                conv1: EqConv::new(init, [c_in, c_out], 3, true, device),
                skip: EqConv::new(init, [c_in, c_out], 1, false, device),
            });
            res /= 2;
        }
        let c4 = spec.channels(image_size, 4);
        let extra = usize::from(mbstd_group > 0);
        Self {
            from_gray,
            blocks,
            conv: EqConv::new(init, [c4 + extra, c4], 3, true, device),
            fc: EqLinear::new(init, [c4 * 16, c4], Some(0.0), 1.0, device),
            out: EqLinear::new(init, [c4, 1], Some(0.0), 1.0, device),
            embed: init.normal([spec.num_classes, c4], 1.0, device),
            mbstd_group,
        }
    }

    /// Logits [b] for images [b, 1, s, s] of one-hot classes `labels` [b, classes].
    pub(crate) fn forward(&self, images: Tensor<4>, labels: Tensor<2>) -> Tensor<1> {
        let mut x = lrelu(self.from_gray.forward(images));
        for block in &self.blocks {
            x = block.forward(x);
        }
        if self.mbstd_group > 0 {
            x = minibatch_stddev(x, self.mbstd_group);
        }
        let x = lrelu(self.conv.forward(x));
        let [b, c, h, w] = x.dims();
        let phi = lrelu(self.fc.forward(x.reshape([b, c * h * w])));
        let features = phi.dims()[1];
        let projection = (labels.matmul(self.embed.val()) * phi.clone())
            .sum_dim(1)
            .div_scalar((features as f64).sqrt());
        (self.out.forward(phi) + projection).reshape([b])
    }
}

/// Appends the mean standard deviation of features over groups of samples as one more
/// channel (Karras et al. 2018), which lets D see a lack of variety. Samples n and m share
/// a group when n ≡ m modulo b/g, with g the largest divisor of b up to `group`.
fn minibatch_stddev(x: Tensor<4>, group: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let g = (1..=group.min(b))
        .rev()
        .find(|g| b.is_multiple_of(*g))
        .unwrap_or(1);
    let m = b / g;
    let grouped = x.clone().reshape([g, m, c * h * w]);
    let centred = grouped.clone() - grouped.mean_dim(0);
    let std = centred
        .powi_scalar(2)
        .mean_dim(0)
        .add_scalar(1e-8)
        .sqrt()
        .mean_dim(2); // [1, m, 1]
    let channel = std
        .reshape([1, m, 1, 1])
        .expand([g, m, h, w])
        .reshape([b, 1, h, w]);
    Tensor::cat(vec![x, channel], 1)
}
