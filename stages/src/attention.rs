//! The multi-head attention arithmetic shared by the latent U-Net, Stable Diffusion's
//! U-Net and VAE, and CLIP. Each keeps its own projections and its own place for the
//! 1/√d scale: parity with diffusers and transformers needs each one's exact order.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

/// `[b, len, heads·d]` → `[b, heads, len, d]`.
pub(crate) fn split_heads(t: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, len, c] = t.dims();
    t.reshape([b, len, heads, c / heads]).swap_dims(1, 2)
}

/// Softmax over the keys of `scores` `[b, heads, n, m]`, the values `v` `[b, heads, m, d]`
/// weighted by it, and the heads merged back: `[b, n, heads·d]`.
pub(crate) fn attend(scores: Tensor<4>, v: Tensor<4>) -> Tensor<3> {
    let [b, heads, n, _] = scores.dims();
    let d = v.dims()[3];
    softmax(scores, 3)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([b, n, heads * d])
}
