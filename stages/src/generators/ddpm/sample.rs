//! Reverse diffusion: ancestral DDPM over all T steps or a respaced subset (as diffusers'
//! `DDPMScheduler`), or deterministic DDIM (η = 0) over a subsequence. Every image draws
//! its noise from a stream keyed by (class, image index, step), so image i is the same
//! whether 100 or 1,000 are drawn, in whatever batches.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::{Device, Tensor, TensorData};

use super::schedule::Schedule;
use super::unet::UNet;
use crate::StageError;
use crate::generators::Sampler;
use crate::generators::images::draw_rows;
use crate::rng::{keyed_rng, normal};

/// A noise predictor ε̂(x_t, t): the pixel U-Net, or a latent U-Net with its prompt and
/// guidance.
pub(crate) trait NoisePredictor {
    fn predict(&self, x: Tensor<4>, t: &[usize]) -> Tensor<4>;
}

impl NoisePredictor for UNet {
    fn predict(&self, x: Tensor<4>, t: &[usize]) -> Tensor<4> {
        self.forward(x, t)
    }
}

/// What to draw and how.
pub(crate) struct DrawSpec<'a> {
    pub schedule: &'a Schedule,
    pub sampler: Sampler,
    /// Sampling steps: DDIM's subsequence, or the DDPM respacing (T = every step).
    pub steps: usize,
    pub size: usize,
    /// Channels of x (1 for pixels; the latent channels for latent diffusion).
    pub channels: usize,
    /// Clip x̂0 and the result to [−1, 1] (pixels); latents are not clipped.
    pub clip: bool,
    pub seed: u64,
    /// Keys the noise streams: the class's index, plus a purpose tag for selection draws.
    pub stream: &'a str,
    pub class_index: usize,
    /// Images `0..count` are drawn, `batch` at a time.
    pub count: usize,
    pub batch: usize,
}

/// Draws images `0..spec.count` as rows of size² values in [−1, 1], `spec.batch` at a
/// time, calling `progress(done)` after each batch.
pub(crate) fn draw(
    unet: &dyn NoisePredictor,
    spec: &DrawSpec<'_>,
    device: &Device,
    progress: &mut dyn FnMut(usize),
    cancel: &AtomicBool,
) -> Result<Vec<Vec<f32>>, StageError> {
    let row_len = spec.channels * spec.size * spec.size;
    draw_rows(spec.count, spec.batch, row_len, progress, cancel, |chunk| {
        if spec.sampler == Sampler::Pndm {
            return Err(StageError::InvalidConfig(
                "the pndm sampler is Stable Diffusion's; use ddim or ddpm".to_owned(),
            ));
        }
        let x = denoise(unet, spec, chunk, device, cancel)?;
        Ok(if spec.clip { x.clamp(-1.0, 1.0) } else { x })
    })
}

/// Standard normal noise for `images`, each from its own stream keyed by `parts`.
fn noise(spec: &DrawSpec<'_>, images: &[usize], tag: u64, device: &Device) -> Tensor<4> {
    let n = spec.channels * spec.size * spec.size;
    let mut values = Vec::with_capacity(images.len() * n);
    for &image in images {
        let mut rng = keyed_rng(
            spec.seed,
            spec.stream,
            &[spec.class_index as u64, image as u64, tag],
        );
        values.extend((0..n).map(|_| normal(&mut rng)));
    }
    Tensor::from_data(
        TensorData::new(values, [images.len(), spec.channels, spec.size, spec.size]),
        device,
    )
}

/// x̂0 = (x_t − √(1−ᾱ)·ε̂) / √ᾱ, clipped to the data range as the reference code does
/// for pixels (`clip`).
fn predict_x0(x: Tensor<4>, eps: Tensor<4>, alpha_bar: f64, clip: bool) -> Tensor<4> {
    let x0 = (x - eps.mul_scalar((1.0 - alpha_bar).sqrt())).div_scalar(alpha_bar.sqrt());
    if clip { x0.clamp(-1.0, 1.0) } else { x0 }
}

/// The reverse process from pure noise: DDIM's subsequence or the (respaced) ancestral
/// steps, checking for cancellation before each step.
fn denoise(
    unet: &dyn NoisePredictor,
    spec: &DrawSpec<'_>,
    images: &[usize],
    device: &Device,
    cancel: &AtomicBool,
) -> Result<Tensor<4>, StageError> {
    let sched = spec.schedule;
    let ddim = spec.sampler == Sampler::Ddim;
    let steps = if ddim {
        sched.ddim_timesteps(spec.steps)
    } else {
        sched.ddpm_timesteps(spec.steps)
    };
    let mut x = noise(spec, images, u64::MAX, device);
    for (i, &t) in steps.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(StageError::Cancelled);
        }
        let next = steps.get(i + 1).copied();
        let eps = unet.predict(x.clone(), &vec![t; images.len()]);
        x = if ddim {
            ddim_step(spec, x, eps, t, next)
        } else {
            ancestral_step(spec, images, x, eps, (t, next), device)
        };
    }
    Ok(x)
}

/// Deterministic DDIM (η = 0) from t to `next` (or to 0).
fn ddim_step(
    spec: &DrawSpec<'_>,
    x: Tensor<4>,
    eps: Tensor<4>,
    t: usize,
    next: Option<usize>,
) -> Tensor<4> {
    let ab = spec.schedule.alpha_bars[t];
    let ab_prev = next.map_or(1.0, |next| spec.schedule.alpha_bars[next]);
    let x0 = predict_x0(x.clone(), eps, ab, spec.clip);
    // The noise direction consistent with the clipped x̂0.
    let eps = (x - x0.clone().mul_scalar(ab.sqrt())).div_scalar((1.0 - ab).sqrt());
    x0.mul_scalar(ab_prev.sqrt()) + eps.mul_scalar((1.0 - ab_prev).sqrt())
}

/// One draw from the posterior q(x_prev | x_t, x̂0) (Ho et al. eq. 7) over the respaced
/// steps; its noise is keyed by t.
fn ancestral_step(
    spec: &DrawSpec<'_>,
    images: &[usize],
    x: Tensor<4>,
    eps: Tensor<4>,
    (t, next): (usize, Option<usize>),
    device: &Device,
) -> Tensor<4> {
    let step = spec.schedule.ancestral_step(t, next);
    let x0 = predict_x0(x.clone(), eps, step.alpha_bar, spec.clip);
    let mean = x0.mul_scalar(step.x0_coeff) + x.mul_scalar(step.xt_coeff);
    if step.noise_std > 0.0 {
        mean + noise(spec, images, t as u64, device).mul_scalar(step.noise_std)
    } else {
        mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generators::NoiseSchedule;

    /// ε̂ = 0.3·x: enough to make every coefficient matter.
    struct Linear;
    impl NoisePredictor for Linear {
        fn predict(&self, x: Tensor<4>, _t: &[usize]) -> Tensor<4> {
            x.mul_scalar(0.3)
        }
    }

    fn values(x: Tensor<4>) -> Vec<f64> {
        x.try_into_vec_as::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    }

    #[test]
    fn respaced_ancestral_sampling_applies_each_step_on_the_device() {
        // The tensor loop against the scalar step that the diffusers reference checks
        // (stages/tests/ddpm_respacing.rs), with the same noise streams.
        let device = Device::flex();
        let schedule = Schedule::new(NoiseSchedule::Linear, 100);
        let spec = DrawSpec {
            schedule: &schedule,
            sampler: Sampler::Ddpm,
            steps: 7,
            size: 4,
            channels: 1,
            clip: true,
            seed: 5,
            stream: "test",
            class_index: 0,
            count: 1,
            batch: 1,
        };
        let never = AtomicBool::new(false);
        let got = values(denoise(&Linear, &spec, &[2], &device, &never).unwrap());
        let mut want = values(noise(&spec, &[2], u64::MAX, &device));
        let steps = schedule.ddpm_timesteps(7);
        assert_eq!(steps, vec![84, 70, 56, 42, 28, 14, 0]);
        for (i, &t) in steps.iter().enumerate() {
            let step = schedule.ancestral_step(t, steps.get(i + 1).copied());
            let z = values(noise(&spec, &[2], t as u64, &device));
            for (x, z) in want.iter_mut().zip(z) {
                *x = step.apply(*x, 0.3 * *x, z);
            }
        }
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
        }
    }
}
