//! Stable Diffusion's samplers as diffusers has them: the beta schedule from
//! `scheduler/scheduler_config.json`, PNDM (PLMS steps only, `skip_prk_steps`, SD v1-4's
//! default) and deterministic DDIM (η = 0), with diffusers' "leading" timestep spacing
//! plus `steps_offset`. Noise prediction ("epsilon") only: v-prediction is SD v2.x's.

use std::path::Path;

use burn::tensor::Tensor;
use serde::Deserialize;

use super::files::{invalid, read_json_value};
use crate::StageError;

/// The fields of `scheduler_config.json` the samplers use (others are ignored).
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    #[serde(default = "train_timesteps")]
    pub num_train_timesteps: usize,
    pub beta_start: f64,
    pub beta_end: f64,
    pub beta_schedule: String,
    #[serde(default)]
    pub set_alpha_to_one: bool,
    #[serde(default)]
    pub steps_offset: usize,
    #[serde(default = "epsilon")]
    pub prediction_type: String,
    #[serde(default = "leading")]
    pub timestep_spacing: String,
}

fn train_timesteps() -> usize {
    1000
}

fn epsilon() -> String {
    "epsilon".to_owned()
}

fn leading() -> String {
    "leading".to_owned()
}

impl SchedulerConfig {
    /// Reads and checks `path` (a `scheduler/scheduler_config.json`).
    pub fn read(path: &Path) -> Result<Self, StageError> {
        let config: Self = serde_json::from_value(read_json_value(path)?)
            .map_err(|err| invalid(path, err.to_string()))?;
        config.validate().map_err(|reason| invalid(path, reason))?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !matches!(self.beta_schedule.as_str(), "scaled_linear" | "linear") {
            problems.push(format!(
                "beta_schedule {:?} (scaled_linear or linear)",
                self.beta_schedule
            ));
        }
        if self.prediction_type != "epsilon" {
            problems.push(format!(
                "prediction_type {:?}: only epsilon (SD v1.x) is supported; v_prediction is SD v2.x's",
                self.prediction_type
            ));
        }
        if self.timestep_spacing != "leading" {
            problems.push(format!(
                "timestep_spacing {:?} (only leading, SD v1.x's)",
                self.timestep_spacing
            ));
        }
        if !(2..=100_000).contains(&self.num_train_timesteps)
            || self.steps_offset >= self.num_train_timesteps
        {
            problems.push(format!(
                "num_train_timesteps {} / steps_offset {}",
                self.num_train_timesteps, self.steps_offset
            ));
        }
        let beta_ok = |b: f64| b > 0.0 && b < 1.0;
        if !beta_ok(self.beta_start) || !beta_ok(self.beta_end) {
            problems.push(format!(
                "betas {}..{} outside (0, 1)",
                self.beta_start, self.beta_end
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// ᾱ_t for t in 0..num_train_timesteps, as diffusers computes them: betas in f32
    /// (`linspace(√start, √end)²` for scaled_linear), the product accumulated in f64 and
    /// rounded to f32 per entry (torch's CPU cumprod).
    pub fn alphas_cumprod(&self) -> Vec<f32> {
        let n = self.num_train_timesteps;
        let linspace = |a: f64, b: f64, i: usize| a + (b - a) * i as f64 / (n - 1) as f64;
        let mut product = 1.0f64;
        (0..n)
            .map(|i| {
                let beta = if self.beta_schedule == "scaled_linear" {
                    let root = linspace(self.beta_start.sqrt(), self.beta_end.sqrt(), i) as f32;
                    root * root
                } else {
                    linspace(self.beta_start, self.beta_end, i) as f32
                };
                product *= f64::from(1.0 - beta);
                product as f32
            })
            .collect()
    }

    /// The DDIM timesteps for `steps` sampling steps, first (noisiest) first.
    pub fn ddim_timesteps(&self, steps: usize) -> Vec<usize> {
        let ratio = self.num_train_timesteps / steps.max(1);
        (0..steps)
            .rev()
            .map(|i| i * ratio + self.steps_offset)
            .collect()
    }

    /// PNDM's PLMS timesteps: the DDIM ones with the second repeated (its first step is
    /// a two-evaluation warm-up).
    pub fn pndm_timesteps(&self, steps: usize) -> Vec<usize> {
        let mut timesteps = self.ddim_timesteps(steps);
        if timesteps.len() >= 2 {
            timesteps.insert(1, timesteps[1]);
        }
        timesteps
    }

    fn step_ratio(&self, steps: usize) -> usize {
        self.num_train_timesteps / steps.max(1)
    }
}

/// ᾱ of `t`, or of the final step (`set_alpha_to_one` ? 1 : ᾱ_0) for t < 0.
fn alpha_at(alphas: &[f32], config: &SchedulerConfig, t: i64) -> f64 {
    match usize::try_from(t) {
        Ok(t) => f64::from(alphas[t.min(alphas.len() - 1)]),
        Err(_) if config.set_alpha_to_one => 1.0,
        Err(_) => f64::from(alphas[0]),
    }
}

/// Deterministic DDIM (η = 0).
pub struct Ddim {
    config: SchedulerConfig,
    alphas: Vec<f32>,
    steps: usize,
}

impl Ddim {
    pub fn new(config: &SchedulerConfig, steps: usize) -> Self {
        Self {
            alphas: config.alphas_cumprod(),
            config: config.clone(),
            steps,
        }
    }

    pub fn timesteps(&self) -> Vec<usize> {
        self.config.ddim_timesteps(self.steps)
    }

    /// x_{t−Δ} from x_t (`sample`) and the predicted noise at `timestep`.
    pub fn step(&self, noise: Tensor<4>, timestep: usize, sample: Tensor<4>) -> Tensor<4> {
        let t = timestep as i64;
        let prev = t - self.config.step_ratio(self.steps) as i64;
        let a_t = alpha_at(&self.alphas, &self.config, t);
        let a_prev = alpha_at(&self.alphas, &self.config, prev);
        let x0 = (sample - noise.clone().mul_scalar((1.0 - a_t).sqrt())).div_scalar(a_t.sqrt());
        x0.mul_scalar(a_prev.sqrt()) + noise.mul_scalar((1.0 - a_prev).sqrt())
    }
}

/// PNDM with PLMS steps only: a linear multistep method over the last four noise
/// predictions; call [`Self::step`] once per entry of [`Self::timesteps`], in order.
pub struct Pndm {
    config: SchedulerConfig,
    alphas: Vec<f32>,
    steps: usize,
    history: Vec<Tensor<4>>,
    counter: usize,
    first_sample: Option<Tensor<4>>,
}

impl Pndm {
    pub fn new(config: &SchedulerConfig, steps: usize) -> Self {
        Self {
            alphas: config.alphas_cumprod(),
            config: config.clone(),
            steps,
            history: Vec::new(),
            counter: 0,
            first_sample: None,
        }
    }

    pub fn timesteps(&self) -> Vec<usize> {
        self.config.pndm_timesteps(self.steps)
    }

    pub fn step(&mut self, noise: Tensor<4>, timestep: usize, sample: Tensor<4>) -> Tensor<4> {
        let ratio = self.config.step_ratio(self.steps) as i64;
        let (mut t, mut prev) = (timestep as i64, timestep as i64 - ratio);
        if self.counter == 1 {
            // The warm-up's second evaluation: redo the first step from the first sample
            // with the mean of both predictions.
            (t, prev) = (t + ratio, t);
        } else {
            if self.history.len() > 3 {
                self.history.remove(0);
            }
            self.history.push(noise.clone());
        }
        let e = &self.history;
        let k = e.len();
        let (noise, sample) = match (k, self.counter) {
            (1, 0) => {
                self.first_sample = Some(sample.clone());
                (noise, sample)
            }
            (1, _) => {
                let first = self.first_sample.take().unwrap_or(sample);
                ((noise + e[0].clone()).div_scalar(2.0), first)
            }
            (2, _) => (
                (e[1].clone().mul_scalar(3.0) - e[0].clone()).div_scalar(2.0),
                sample,
            ),
            (3, _) => (
                (e[2].clone().mul_scalar(23.0) - e[1].clone().mul_scalar(16.0)
                    + e[0].clone().mul_scalar(5.0))
                .div_scalar(12.0),
                sample,
            ),
            _ => (
                (e[k - 1].clone().mul_scalar(55.0) - e[k - 2].clone().mul_scalar(59.0)
                    + e[k - 3].clone().mul_scalar(37.0)
                    - e[k - 4].clone().mul_scalar(9.0))
                .div_scalar(24.0),
                sample,
            ),
        };
        self.counter += 1;
        self.prev_sample(sample, t, prev, noise)
    }

    /// PNDM's formula (Liu et al. 2022, eq. 9) for x_prev from x_t and the combined noise.
    fn prev_sample(&self, sample: Tensor<4>, t: i64, prev: i64, noise: Tensor<4>) -> Tensor<4> {
        let a_t = alpha_at(&self.alphas, &self.config, t);
        let a_prev = alpha_at(&self.alphas, &self.config, prev);
        let (b_t, b_prev) = (1.0 - a_t, 1.0 - a_prev);
        let sample_coeff = (a_prev / a_t).sqrt();
        let denom = a_t * b_prev.sqrt() + (a_t * b_t * a_prev).sqrt();
        sample.mul_scalar(sample_coeff) - noise.mul_scalar((a_prev - a_t) / denom)
    }
}
