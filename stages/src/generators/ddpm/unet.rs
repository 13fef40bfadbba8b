//! The pixel DDPM's U-Net (`generators/unet.rs`) with single-head self-attention at low
//! resolutions, as Ho et al. (2020).

use burn::module::Module;
use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

use crate::generators::UNetSpec;
use crate::generators::unet::{AttentionBlock, UNetCore, conv1, group_norm};

/// Single-head self-attention over all pixels.
#[derive(Module, Debug)]
pub struct Attention {
    norm: GroupNorm,
    qkv: Conv2d,
    out: Conv2d,
}

impl Attention {
    fn new(ch: usize, device: &Device) -> Self {
        Self {
            norm: group_norm(ch, device),
            qkv: conv1([ch, 3 * ch], device),
            out: conv1([ch, ch], device),
        }
    }
}

impl AttentionBlock for Attention {
    type Context = ();

    fn attend(&self, x: Tensor<4>, _: &()) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let qkv = self.qkv.forward(self.norm.forward(x.clone()));
        let qkv = qkv.reshape([b, 3, c, h * w]);
        let q = qkv.clone().narrow(1, 0, 1).reshape([b, c, h * w]);
        let k = qkv.clone().narrow(1, 1, 1).reshape([b, c, h * w]);
        let v = qkv.narrow(1, 2, 1).reshape([b, c, h * w]);
        // [b, hw, hw]: weights of every key pixel for every query pixel.
        let scores = q.swap_dims(1, 2).matmul(k).div_scalar((c as f64).sqrt());
        let attn = softmax(scores, 2);
        let out = v.matmul(attn.swap_dims(1, 2)).reshape([b, c, h, w]);
        x + self.out.forward(out)
    }
}

/// The U-Net over one-channel images.
pub type UNet = UNetCore<Attention>;

impl UNetCore<Attention> {
    pub fn new(spec: &UNetSpec, image_size: u32, device: &Device) -> Self {
        Self::build(spec, 1, image_size, |ch| Attention::new(ch, device), device)
    }

    /// Predicted noise ε̂(x_t, t) for images [b, 1, s, s] at integer timesteps `t`.
    pub fn forward(&self, x: Tensor<4>, t: &[usize]) -> Tensor<4> {
        self.predict(x, t, &())
    }
}
