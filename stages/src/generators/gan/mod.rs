//! A class-conditional StyleGAN2-style GAN for small data sets (Karras et al. 2020a,
//! "Analyzing and improving the image quality of StyleGAN"; 2020b, "Training generative
//! adversarial networks with limited data"), at 32–256 px: one network for every class.
//!
//! - Generator ([`generator`]): mapping network over (z, class embedding), synthesis from a
//!   learned 4×4 constant with modulated, demodulated 3×3 convs, per-pixel noise with
//!   learned per-channel strengths and toGray skip outputs. Equalized learning rate.
//! - Discriminator ([`discriminator`]): residual, minibatch-stddev, projection
//!   conditioning.
//! - Losses: non-saturating logistic, D: softplus(D(fake)) + softplus(−D(real)); G:
//!   softplus(−D(fake)). Adam with β1 = 0, β2 = 0.99. EMA of the generator's weights.
//! - Augmentation ([`ada`]): ADA on every image D sees, p tuned from E[sign(D(real))].
//! - Checkpoints: every `selection.every` steps the EMA generator draws images of every
//!   class, each class is scored (pixel KID) against its held-out real *training* images,
//!   and the checkpoint with the lowest mean is kept.
//!
//! # R1 without double backward
//!
//! R1 (Mescheder et al. 2018) penalises γ/2·‖∇ₓD(x)‖² on real images; minimising it by
//! gradient descent needs the gradient of a gradient. Burn 0.22.1 cannot do that: its
//! `Autodiff` backend records backward steps as operations on the *inner* backend's
//! tensors (`burn-autodiff` `ops/`), so a gradient is a plain tensor with no graph, and
//! `device.autodiff()` wraps a device once (no `Autodiff<Autodiff<B>>` through the
//! runtime `Device`). We therefore use the finite-difference Hutchinson estimate
//!
//! ‖∇ₓD(x)‖² ≈ ((D(x + εv) − D(x)) / ε)²,  v ~ N(0, I) from a keyed stream, ε = 10⁻²,
//!
//! which is unbiased up to O(ε) because E[(vᵀg)²] = gᵀE[vvᵀ]g = ‖g‖², and is an ordinary
//! function of D's parameters, so first-order autodiff differentiates it. It reuses D(x)
//! of the main loss (on the augmented reals, as StyleGAN2-ADA), costing one extra D
//! forward and backward. Regularisation is lazy (StyleGAN2): every `r1_interval` steps,
//! weighted by γ/2·`r1_interval`, added to that step's D loss (one optimiser step, so
//! StyleGAN2's Adam β/lr correction for a separate regularisation step does not apply).
//! One probe per image makes the estimate noisier than the exact gradient norm; its mean
//! over the batch is what the penalty uses.
//!
//! Not implemented: style mixing, path-length regularisation, the blur filters around
//! up/downsampling (nearest ×2 and 2×2 average pooling instead), truncation at sampling.

pub(crate) mod ada;
mod discriminator;
pub(crate) mod generator;
pub(crate) mod layers;
pub(crate) mod sample;
mod train;

pub use train::{GanProgress, train_gan};

use burn::module::Module;
use burn::tensor::Device;

use crate::generators::GanConfig;

/// Parameter counts (generator, discriminator) of the networks [`train_gan`] builds for
/// `cfg` and `num_classes` classes. Only for the Burn-vs-PyTorch benchmark
/// (`stages/benches/generator_step.rs`), which checks its PyTorch twins against them.
#[doc(hidden)]
pub fn parameter_counts(cfg: &GanConfig, num_classes: usize) -> (usize, usize) {
    let spec = cfg.generator(num_classes);
    let device = Device::flex();
    let mut init = layers::Init::new(0, "gan-shape");
    let g = generator::Generator::new(&spec, cfg.image_size, &mut init, &device);
    let d = discriminator::Discriminator::new(
        &spec,
        cfg.image_size,
        cfg.mbstd_group,
        &mut init,
        &device,
    );
    (g.num_params(), d.num_params())
}
