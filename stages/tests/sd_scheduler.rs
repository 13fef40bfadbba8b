//! The PNDM and DDIM samplers against diffusers' `PNDMScheduler` and `DDIMScheduler`
//! built from SD v1-4's published `scheduler_config.json`.
//!
//! `bench/reference/sd_reference.py` (diffusers 0.42.1, torch 2.15.0) recorded their
//! timesteps, a few ᾱ values, and six PNDM and three DDIM steps (50-step schedule) of a
//! formula-defined sample with a formula noise prediction ([`fake_noise`]). diffusers
//! computes in f32: we allow 1e-5 of the largest |value| per step.

mod parity_support;
mod sd_support;

use std::fs;

use augflow_stages::metrics::quality::inception::test_weights::{fnv1a64, unit_value};
use augflow_stages::sd::scheduler::{Ddim, Pndm, SchedulerConfig};
use burn::tensor::{Device, Tensor, TensorData};
use parity_support::check_summary;
use sd_support::{fixture, json};
use serde_json::Value;

fn config() -> SchedulerConfig {
    SchedulerConfig::read(&fixture("sd-v1-4/scheduler/scheduler_config.json")).unwrap()
}

fn reference() -> Value {
    json("schedulers.json")
}

fn usizes(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// The script's starting sample: `unit_values("sample", 256)` as [1, 4, 8, 8].
fn start_sample() -> Tensor<4> {
    let hash = fnv1a64("sample");
    let values: Vec<f32> = (0..256).map(|i| unit_value(hash, i) as f32).collect();
    Tensor::from_data(TensorData::new(values, [1, 4, 8, 8]), &Device::flex())
}

/// The script's stand-in for the U-Net.
fn fake_noise(sample: Tensor<4>, t: usize) -> Tensor<4> {
    let t = t as f64;
    sample
        .tanh()
        .mul_scalar(0.5 + t / 2000.0)
        .add_scalar(0.1 * (t / 37.0).cos())
}

/// Runs `step` from [`start_sample`] with [`fake_noise`] over `timesteps`, comparing each
/// step's timestep and sample with the script's `reference[key]` (one record per step,
/// from the first).
fn check_steps(
    name: &str,
    key: &str,
    timesteps: &[usize],
    mut step: impl FnMut(Tensor<4>, usize, Tensor<4>) -> Tensor<4>,
) {
    let reference = reference();
    let expected_steps = reference[key].as_array().unwrap();
    let mut sample = start_sample();
    for (i, expected) in expected_steps.iter().enumerate() {
        let t = timesteps[i];
        assert_eq!(
            t as u64,
            expected["timestep"].as_u64().unwrap(),
            "{name} step {i}"
        );
        let noise = fake_noise(sample.clone(), t);
        sample = step(noise, t, sample);
        let ours: Vec<f64> = sample
            .clone()
            .try_into_vec_as::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        check_summary(
            &format!("{name} step {i} (t = {t})"),
            &ours,
            expected,
            "first8",
        );
    }
}

#[test]
fn timesteps_and_alphas_match_diffusers() {
    let config = config();
    let reference = reference();
    for steps in [50, 7] {
        assert_eq!(
            config.pndm_timesteps(steps),
            usizes(&reference[format!("pndm_timesteps_{steps}")]),
            "PNDM, {steps} steps"
        );
        assert_eq!(
            config.ddim_timesteps(steps),
            usizes(&reference[format!("ddim_timesteps_{steps}")]),
            "DDIM, {steps} steps"
        );
    }
    let alphas = config.alphas_cumprod();
    assert_eq!(alphas.len(), 1000);
    for (t, value) in reference["alphas_cumprod"].as_object().unwrap() {
        let t: usize = t.parse().unwrap();
        let expected = value.as_f64().unwrap();
        let ours = f64::from(alphas[t]);
        assert!(
            (ours - expected).abs() <= 1e-6 * expected,
            "alpha_cumprod[{t}] {ours} vs {expected}"
        );
    }
}

#[test]
fn pndm_steps_match_diffusers() {
    let mut pndm = Pndm::new(&config(), 50);
    let timesteps = pndm.timesteps();
    check_steps("PNDM", "pndm_steps", &timesteps, |noise, t, sample| {
        pndm.step(noise, t, sample)
    });
}

#[test]
fn ddim_steps_match_diffusers() {
    let ddim = Ddim::new(&config(), 50);
    check_steps(
        "DDIM",
        "ddim_steps",
        &ddim.timesteps(),
        |noise, t, sample| ddim.step(noise, t, sample),
    );
}

#[test]
fn sd_v2_scheduler_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scheduler_config.json");
    // stabilityai/stable-diffusion-2's scheduler: v-prediction.
    fs::write(
        &path,
        r#"{"_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "prediction_type": "v_prediction",
            "steps_offset": 1, "set_alpha_to_one": false}"#,
    )
    .unwrap();
    let err = SchedulerConfig::read(&path).unwrap_err().to_string();
    assert!(
        err.contains("scheduler_config.json") && err.contains("v_prediction"),
        "{err}"
    );
}
