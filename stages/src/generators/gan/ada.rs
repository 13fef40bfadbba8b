//! Adaptive discriminator augmentation (Karras et al. 2020, "Training generative
//! adversarial networks with limited data"): every image the discriminator sees, real or
//! fake, goes through the same random augmentations, each applied with probability p, and
//! p follows the discriminator's overfitting signal r = E[sign(D(real))].
//!
//! The transforms are ADA's pixel blitting and colour groups restricted to what suits
//! chest radiographs: horizontal flip and integer translation by up to 1/8 of the side
//! (reflect padding), then brightness (+N(0, 0.2²)) and contrast (×2^N(0, 0.5²)) on pixel
//! values in [−1, 1]. No 90° rotations (a sideways film is not a plausible radiograph and
//! rotations leak into the generator at high p) and no luma flip (it would invert
//! radiodensity). Each is differentiable in the image, so generator gradients pass
//! through.

use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::generators::AdaConfig;
use crate::rng::{normal, unit};

/// The p controller.
#[derive(Debug, Clone)]
pub(crate) struct AdaController {
    p: f64,
    target: f64,
    interval: usize,
    /// p's step per adjustment: batch·interval/(kimg·1000).
    adjust: f64,
    sign_sum: f64,
    count: usize,
    steps: usize,
}

impl AdaController {
    pub(crate) fn new(cfg: &AdaConfig, batch_size: usize) -> Self {
        Self {
            p: 0.0,
            target: cfg.target,
            interval: cfg.interval,
            adjust: (batch_size * cfg.interval) as f64 / (cfg.kimg * 1000.0),
            sign_sum: 0.0,
            count: 0,
            steps: 0,
        }
    }

    pub(crate) fn p(&self) -> f64 {
        self.p
    }

    /// Records Σ sign(D(real)) over `count` real images of one discriminator step.
    pub(crate) fn observe(&mut self, sign_sum: f64, count: usize) {
        self.sign_sum += sign_sum;
        self.count += count;
    }

    /// Ends a training step; every `interval` steps moves p by the sign of r − target
    /// (clamped to [0, 1]) and returns r.
    pub(crate) fn end_step(&mut self) -> Option<f64> {
        self.steps += 1;
        if self.steps < self.interval || self.count == 0 {
            return None;
        }
        let r = self.sign_sum / self.count as f64;
        let direction = if r > self.target {
            1.0
        } else if r < self.target {
            -1.0
        } else {
            0.0
        };
        self.p = (self.p + direction * self.adjust).clamp(0.0, 1.0);
        (self.sign_sum, self.count, self.steps) = (0.0, 0, 0);
        Some(r)
    }
}

/// The random choices for one image: drawn in a fixed order whatever p is, so a stream
/// position never depends on p.
#[derive(Debug, Clone, Copy)]
struct Choice {
    flip: bool,
    shift: Option<(isize, isize)>,
    brightness: f32,
    contrast: f32,
}

fn choose(rng: &mut ChaCha8Rng, p: f64, max_shift: usize) -> Choice {
    let p = p as f32;
    let (u_flip, u_shift, u_bright, u_contrast) = (unit(rng), unit(rng), unit(rng), unit(rng));
    let span = 2 * max_shift + 1;
    let mut offset =
        || ((u64::from(rng.next_u32()) * span as u64) >> 32) as isize - max_shift as isize;
    let (dx, dy) = (offset(), offset());
    let (bright, contrast) = (normal(rng) * 0.2, (normal(rng) * 0.5).exp2());
    Choice {
        flip: u_flip < p,
        shift: (u_shift < p && max_shift > 0).then_some((dx, dy)),
        brightness: if u_bright < p { bright } else { 0.0 },
        contrast: if u_contrast < p { contrast } else { 1.0 },
    }
}

/// Augments a batch [b, 1, s, s] with probability `p` per transform and image, drawing
/// every choice from `rng`. At p = 0 the input comes back unchanged.
pub(crate) fn augment(x: Tensor<4>, p: f64, rng: &mut ChaCha8Rng, device: &Device) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let max_shift = h / 8;
    let choices: Vec<Choice> = (0..b).map(|_| choose(rng, p, max_shift)).collect();
    if p <= 0.0 {
        return x;
    }
    let column = |f: &dyn Fn(&Choice) -> f32| {
        let values: Vec<f32> = choices.iter().map(f).collect();
        Tensor::<4>::from_data(TensorData::new(values, [b, 1, 1, 1]), device)
    };
    let mut x = x;
    if choices.iter().any(|c| c.flip) {
        let mask = column(&|c| f32::from(u8::from(c.flip)));
        let flipped = x.clone().flip([3]);
        x = x.clone() - x * mask.clone() + flipped * mask;
    }
    if choices.iter().any(|c| c.shift.is_some()) {
        let m = max_shift;
        let padded = x
            .clone()
            .pad([(0, 0), (0, 0), (m, m), (m, m)], PadMode::Reflect);
        let slices = choices
            .iter()
            .enumerate()
            .map(|(i, choice)| {
                let (dx, dy) = choice.shift.unwrap_or((0, 0));
                // Content moves by (dx, dy): output pixel (y, x) reads padded (y + m − dy, …).
                let (y0, x0) = ((m as isize - dy) as usize, (m as isize - dx) as usize);
                padded
                    .clone()
                    .slice([i..i + 1, 0..c, y0..y0 + h, x0..x0 + w])
            })
            .collect();
        x = Tensor::cat(slices, 0);
    }
    if choices
        .iter()
        .any(|c| c.brightness != 0.0 || c.contrast != 1.0)
    {
        x = x * column(&|c| c.contrast) + column(&|c| c.brightness);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::keyed_rng;

    fn controller() -> AdaController {
        let cfg = AdaConfig {
            enabled: true,
            target: 0.6,
            interval: 4,
            kimg: 0.5,
        };
        // Step per adjustment: 8·4/500 = 0.064.
        AdaController::new(&cfg, 8)
    }

    /// Runs `steps` steps in which D gives sign +1 to a fraction `positive` of 8 reals.
    fn run(ada: &mut AdaController, steps: usize, positive: f64) -> Vec<f64> {
        let mut ps = Vec::new();
        for _ in 0..steps {
            let plus = (8.0 * positive).round();
            ada.observe(plus - (8.0 - plus), 8);
            if ada.end_step().is_some() {
                ps.push(ada.p());
            }
        }
        ps
    }

    #[test]
    fn p_rises_while_d_overfits_and_falls_when_it_does_not() {
        let mut ada = controller();
        assert_eq!(ada.p(), 0.0);
        // r = 2·0.875 − 1 = 0.75 > 0.6: overfitting, p rises one step per interval.
        let rising = run(&mut ada, 40, 0.875);
        assert_eq!(rising.len(), 10);
        assert!((rising[0] - 0.064).abs() < 1e-12, "{rising:?}");
        assert!(rising.windows(2).all(|w| w[1] > w[0]), "{rising:?}");
        // Long enough to hit the ceiling: clamped at 1.
        let capped = run(&mut ada, 200, 0.875);
        assert_eq!(*capped.last().unwrap(), 1.0);
        assert!(capped.iter().all(|&p| p <= 1.0));
        // r = 0.25 < 0.6: p falls back, down to exactly 0 and no further.
        let falling = run(&mut ada, 200, 0.625);
        assert!(falling.windows(2).all(|w| w[1] <= w[0]), "{falling:?}");
        assert_eq!(*falling.last().unwrap(), 0.0);
        assert!(falling.iter().all(|&p| p >= 0.0));
    }

    #[test]
    fn augmentation_is_identity_at_p_zero_and_keeps_shape() {
        let device = Device::flex();
        let values: Vec<f32> = (0..4 * 32 * 32).map(|i| (i % 97) as f32 / 97.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(values.clone(), [4, 1, 32, 32]), &device);
        let same = augment(x.clone(), 0.0, &mut keyed_rng(1, "aug", &[]), &device);
        assert_eq!(same.try_into_vec_as::<f32>().unwrap(), values);
        let changed = augment(x, 1.0, &mut keyed_rng(1, "aug", &[]), &device);
        assert_eq!(changed.dims(), [4, 1, 32, 32]);
        assert_ne!(changed.try_into_vec_as::<f32>().unwrap(), values);
    }
}
