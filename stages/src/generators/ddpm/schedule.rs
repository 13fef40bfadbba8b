//! The forward (noising) process: β_t, α_t = 1 − β_t and ᾱ_t = Π α_s, in f64 on the host.

use burn::tensor::{Device, Tensor, TensorData};

use crate::generators::NoiseSchedule;

/// Per-step coefficients of a T-step diffusion.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub betas: Vec<f64>,
    /// ᾱ_t for t = 0..T (index t is the t+1-th noising step).
    pub alpha_bars: Vec<f64>,
}

impl Schedule {
    pub fn new(kind: NoiseSchedule, timesteps: usize) -> Self {
        let betas = match kind {
            NoiseSchedule::Linear => {
                // Ho et al.'s 1e-4..0.02 is for T = 1000; scaling keeps ᾱ_T ≈ 0 for other T
                // (Nichol & Dhariwal 2021, appendix).
                let scale = 1000.0 / timesteps as f64;
                let (start, end) = (1e-4 * scale, (0.02 * scale).min(0.999));
                (0..timesteps)
                    .map(|t| {
                        if timesteps == 1 {
                            start
                        } else {
                            start + (end - start) * t as f64 / (timesteps - 1) as f64
                        }
                    })
                    .collect()
            }
            NoiseSchedule::Cosine => {
                let f = |t: f64| {
                    let s = 0.008;
                    (((t / timesteps as f64 + s) / (1.0 + s)) * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                (0..timesteps)
                    .map(|t| (1.0 - f(t as f64 + 1.0) / f(t as f64)).min(0.999))
                    .collect::<Vec<f64>>()
            }
        };
        let mut alpha_bars = Vec::with_capacity(betas.len());
        let mut product = 1.0;
        for beta in &betas {
            product *= 1.0 - beta;
            alpha_bars.push(product);
        }
        Self { betas, alpha_bars }
    }

    /// The schedule of given ᾱ_t (e.g. Stable Diffusion's, from its scheduler config).
    pub fn from_alpha_bars(alpha_bars: Vec<f64>) -> Self {
        let mut previous = 1.0;
        let betas = alpha_bars
            .iter()
            .map(|&ab| {
                let beta = 1.0 - ab / previous;
                previous = ab;
                beta
            })
            .collect();
        Self { betas, alpha_bars }
    }

    /// `f(ᾱ_t)` of each sample's timestep in `t`, as a `[batch, 1, 1, 1]` column that
    /// broadcasts over the sample's image (the noising and loss-weight coefficients).
    pub(crate) fn column(&self, t: &[usize], device: &Device, f: impl Fn(f64) -> f64) -> Tensor<4> {
        let values: Vec<f32> = t.iter().map(|&t| f(self.alpha_bars[t]) as f32).collect();
        Tensor::<4>::from_data(TensorData::new(values, [t.len(), 1, 1, 1]), device)
    }

    /// The number of diffusion steps T.
    pub fn steps(&self) -> usize {
        self.betas.len()
    }

    /// ᾱ before step `t` (1 at the start).
    pub fn alpha_bar_prev(&self, t: usize) -> f64 {
        if t == 0 { 1.0 } else { self.alpha_bars[t - 1] }
    }

    /// The closed form q(x_t | x_0): √ᾱ_t·x0 + √(1 − ᾱ_t)·ε, for one value.
    pub fn noised(&self, x0: f64, t: usize, eps: f64) -> f64 {
        let ab = self.alpha_bars[t];
        ab.sqrt() * x0 + (1.0 - ab).sqrt() * eps
    }

    /// diffusers' `DDPMScheduler.set_timesteps(count)` with its default "leading" spacing:
    /// t_i = i·⌊T/count⌋ for i < count, descending. Each step goes from t to t − ⌊T/count⌋.
    /// `count` must be in 1..=T (diffusers refuses more steps than T).
    pub fn ddpm_timesteps(&self, count: usize) -> Vec<usize> {
        let ratio = self.steps() / count.clamp(1, self.steps());
        (0..count.clamp(1, self.steps()))
            .map(|i| i * ratio)
            .rev()
            .collect()
    }

    /// The coefficients of one ancestral step from `t` to `prev` (None: to the data) over
    /// a respaced schedule, as diffusers' `DDPMScheduler.step` with `fixed_small` variance:
    /// x_prev = c0·x̂0 + ct·x_t + σ·z, with ᾱ_prev/ᾱ_t giving the step's own α.
    pub fn ancestral_step(&self, t: usize, prev: Option<usize>) -> AncestralStep {
        let alpha_bar = self.alpha_bars[t];
        let alpha_bar_prev = prev.map_or(1.0, |p| self.alpha_bars[p]);
        let alpha = alpha_bar / alpha_bar_prev;
        let beta = 1.0 - alpha;
        AncestralStep {
            alpha_bar,
            x0_coeff: alpha_bar_prev.sqrt() * beta / (1.0 - alpha_bar),
            xt_coeff: alpha.sqrt() * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar),
            // diffusers clamps the variance at 1e-20 and adds no noise at the last step.
            noise_std: if prev.is_some() {
                ((1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * beta)
                    .max(1e-20)
                    .sqrt()
            } else {
                0.0
            },
        }
    }

    /// `count` timesteps evenly spread over 0..T, descending, for DDIM.
    pub fn ddim_timesteps(&self, count: usize) -> Vec<usize> {
        let t = self.steps();
        let count = count.clamp(1, t);
        let mut steps: Vec<usize> = (0..count).map(|i| i * t / count).collect();
        steps.dedup();
        steps.reverse();
        steps
    }
}

/// One step of ancestral sampling (see [`Schedule::ancestral_step`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AncestralStep {
    /// ᾱ at the current timestep, to predict x̂0 from ε̂.
    pub alpha_bar: f64,
    pub x0_coeff: f64,
    pub xt_coeff: f64,
    /// σ of the added noise; 0 at the last step.
    pub noise_std: f64,
}

impl AncestralStep {
    /// The step on one value, with x̂0 clipped to [−1, 1] as for pixels.
    pub fn apply(&self, x: f64, eps: f64, noise: f64) -> f64 {
        let x0 =
            ((x - (1.0 - self.alpha_bar).sqrt() * eps) / self.alpha_bar.sqrt()).clamp(-1.0, 1.0);
        self.x0_coeff * x0 + self.xt_coeff * x + self.noise_std * noise
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{keyed_rng, normal};

    #[test]
    fn linear_schedule_matches_ho_et_al() {
        let s = Schedule::new(NoiseSchedule::Linear, 1000);
        assert!((s.betas[0] - 1e-4).abs() < 1e-15);
        assert!((s.betas[999] - 0.02).abs() < 1e-15);
        // ᾱ_T of the reference schedule is about 4.0e-5.
        assert!(
            s.alpha_bars[999] > 1e-5 && s.alpha_bars[999] < 1e-4,
            "{}",
            s.alpha_bars[999]
        );
    }

    #[test]
    fn cosine_schedule_decreases_to_near_zero() {
        let s = Schedule::new(NoiseSchedule::Cosine, 200);
        assert!(s.alpha_bars.windows(2).all(|w| w[1] < w[0]));
        assert!(s.alpha_bars[199] < 1e-3);
        assert!(s.alpha_bars[0] > 0.99);
    }

    #[test]
    fn stepwise_noising_matches_the_closed_form() {
        // Apply q(x_t | x_{t-1}) = N(√(1-β_t)·x_{t-1}, β_t) step by step to many copies of
        // x0 and compare mean and variance with q(x_t | x_0) = N(√ᾱ_t·x0, 1 − ᾱ_t).
        let s = Schedule::new(NoiseSchedule::Linear, 100);
        let x0 = 0.8;
        let n = 20_000;
        let mut rng = keyed_rng(1, "forward", &[]);
        for t_end in [0, 10, 50, 99] {
            let (mut sum, mut sum_sq) = (0.0, 0.0);
            for _ in 0..n {
                let mut x = x0;
                for t in 0..=t_end {
                    let eps = f64::from(normal(&mut rng));
                    x = (1.0 - s.betas[t]).sqrt() * x + s.betas[t].sqrt() * eps;
                }
                sum += x;
                sum_sq += x * x;
            }
            let mean = sum / n as f64;
            let var = sum_sq / n as f64 - mean * mean;
            let ab = s.alpha_bars[t_end];
            let (want_mean, want_var) = (ab.sqrt() * x0, 1.0 - ab);
            // Standard errors: √(var/n) for the mean, var·√(2/n) for the variance; 5 SE.
            let se_mean = (want_var / n as f64).sqrt();
            assert!(
                (mean - want_mean).abs() < 5.0 * se_mean + 1e-12,
                "t={t_end} mean {mean} vs {want_mean}"
            );
            let se_var = want_var * (2.0 / n as f64).sqrt();
            assert!(
                (var - want_var).abs() < 5.0 * se_var + 1e-9,
                "t={t_end} var {var} vs {want_var}"
            );
            assert!((s.noised(x0, t_end, 0.0) - want_mean).abs() < 1e-12);
        }
    }

    #[test]
    fn ddim_timesteps_are_descending_and_start_at_zero() {
        let s = Schedule::new(NoiseSchedule::Linear, 1000);
        let steps = s.ddim_timesteps(50);
        assert_eq!(steps.len(), 50);
        assert_eq!(*steps.last().unwrap(), 0);
        assert_eq!(steps[0], 980);
        assert!(steps.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(s.ddim_timesteps(5000).len(), 1000);
    }
}
