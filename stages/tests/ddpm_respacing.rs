//! `sample` with `sampler: ddpm` and `steps: N` against diffusers' `DDPMScheduler`: the
//! respaced timesteps and every ancestral step's result on fixed inputs, from the committed
//! reference that bench/reference/ddpm_respacing_reference.py wrote with diffusers.

use augflow_stages::generators::NoiseSchedule;
use augflow_stages::generators::ddpm::schedule::Schedule;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    timesteps_total: usize,
    steps: usize,
    schedule: String,
    timesteps: Vec<usize>,
    checked: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    index: usize,
    t: usize,
    prev_t: i64,
    x: Vec<f64>,
    eps: Vec<f64>,
    noise: Vec<f64>,
    prev_sample: Vec<f64>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/ddpm_respacing.json"
    );
    let text = std::fs::read_to_string(path).expect("the committed diffusers reference");
    serde_json::from_str(&text).expect("valid reference JSON")
}

fn schedule(case: &Case) -> Schedule {
    let kind = match case.schedule.as_str() {
        "linear" => NoiseSchedule::Linear,
        "cosine" => NoiseSchedule::Cosine,
        other => panic!("unknown schedule {other}"),
    };
    Schedule::new(kind, case.timesteps_total)
}

#[test]
fn respaced_timesteps_match_diffusers() {
    let reference = reference();
    assert!(reference.cases.len() >= 4);
    for case in &reference.cases {
        let ours = schedule(case).ddpm_timesteps(case.steps);
        assert_eq!(
            ours, case.timesteps,
            "T={} N={}",
            case.timesteps_total, case.steps
        );
    }
}

#[test]
fn every_ancestral_step_matches_diffusers_step() {
    for case in &reference().cases {
        let sched = schedule(case);
        let timesteps = sched.ddpm_timesteps(case.steps);
        for step in &case.checked {
            assert_eq!(timesteps[step.index], step.t);
            // Our next timestep is diffusers' previous_timestep (−1: the data).
            let prev = timesteps.get(step.index + 1).copied();
            assert_eq!(prev.map_or(-1, |p| p as i64), step.prev_t, "t={}", step.t);
            let coeffs = sched.ancestral_step(step.t, prev);
            assert_eq!(step.x.len(), step.prev_sample.len());
            let inputs = step.x.iter().zip(&step.eps).zip(&step.noise);
            for (i, ((&x, &eps), &noise)) in inputs.enumerate() {
                let ours = coeffs.apply(x, eps, noise);
                let want = step.prev_sample[i];
                // The reference upcasts diffusers' tables to float64 (its betas come from a
                // float32 linspace): agreement to ~4e-7.
                assert!(
                    (ours - want).abs() <= 2e-6 * want.abs().max(1.0),
                    "T={} N={} t={} value {i}: ours {ours} diffusers {want}",
                    case.timesteps_total,
                    case.steps,
                    step.t
                );
            }
        }
    }
}
