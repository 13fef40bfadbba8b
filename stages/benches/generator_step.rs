//! Training-step time and sampling throughput of the generators (the per-class DDPM and
//! the class-conditional GAN) on Burn's backends, for comparison with PyTorch
//! (`bench/torch/generators.sh` runs this and `bench/torch/generator_step.py` together).
//!
//! `cargo bench -p augflow-stages --profile dev --bench generator_step -- [backend…] [case…]`
//! where backend is `cpu` (flex), `cuda` or `wgpu` and case is `ddpm<size>` or `gan<size>`
//! (default: cpu and wgpu, and ddpm32, gan32, gan64); prints one JSON line per measurement, and first
//! one line per case with the networks' parameter counts.
//!
//! Everything goes through the public stage functions on a phantom data set, so the
//! numbers include what a pipeline pays per step (host-side noise streams, reading the
//! loss back, the EMA update):
//! - training: seconds per step = (t(n₂) − t(n₁)) / (n₂ − n₁) for two `train_ddpm` /
//!   `train_gan` runs of n₁ and n₂ steps with checkpoint selection only at the last step
//!   (2 images, 1 DDIM step), so setup, data loading, the selection and saving cancel
//!   out. On the CPU the GAN's runs are one R1 interval apart, so its lazy R1 is in the
//!   mean at its real rate. ADA is off (at p ≈ 0, as in the first steps of a run, it is a
//!   no-op).
//! - sampling: images/s = (n₂ − n₁) / (t(n₂) − t(n₁)) for two `sample_generator` runs of
//!   one class, batch 32 (DDPM: DDIM, 20 steps; GAN: one forward per batch); this
//!   includes drawing the noise on the host and writing the PNGs.
//!
//! One run of each kind comes first, untimed, to compile wgpu's kernels. The reported
//! value is the median over `BENCH_REPEATS` pairs (default 3, 1 on a software adapter,
//! where the runs are also shorter: 1 and 3 steps, so the GAN's difference has no R1
//! step). Each measurement has `BENCH_BUDGET_S` seconds (default 300): a run predicted to
//! end later is not started, and one still going then is cancelled through the stage
//! functions' cancel flag. The measurement is then cut to the pairs done so far, or
//! reported as skipped with `bound`, the best time per unit of any single run (setup and
//! compilation included: an upper bound on s/step, a lower bound on images/s).

mod bench_support;

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use augflow_stages::backend::SelectedDevice;
use augflow_stages::generators::{
    AdaConfig, DdpmConfig, DdpmProgress, GanConfig, GanProgress, GanSelectionConfig, NoiseSchedule,
    SampleConfig, SampleProgress, Sampler, SelectionConfig, TrainInputs, ddpm, gan,
    sample_generator, train_ddpm, train_gan,
};
use augflow_stages::phantom::{PhantomConfig, generate_phantom};
use augflow_stages::{StageError, StageIo};
use serde_json::{Value, json};

const BATCH: usize = 16;
const SAMPLE_BATCH: usize = 32;
const DDIM_STEPS: usize = 20;
/// The class the DDPM trains on and both generators sample.
const CLASS: &str = "healthy";
const SEED: u64 = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Ddpm,
    Gan,
}

#[derive(Clone, Copy)]
struct Case {
    family: Family,
    size: u32,
}

const CASES: [Case; 3] = [
    Case {
        family: Family::Ddpm,
        size: 32,
    },
    Case {
        family: Family::Gan,
        size: 32,
    },
    Case {
        family: Family::Gan,
        size: 64,
    },
];

impl Case {
    fn model(self) -> &'static str {
        match self.family {
            Family::Ddpm => "ddpm",
            Family::Gan => "gan",
        }
    }

    fn parse(text: &str) -> Option<Case> {
        let (family, size) = if let Some(size) = text.strip_prefix("ddpm") {
            (Family::Ddpm, size)
        } else {
            (Family::Gan, text.strip_prefix("gan")?)
        };
        let size = size.parse().ok()?;
        Some(Case { family, size })
    }

    /// 32 px, base 16, levels ×1 ×2 ×2, one residual block, attention at 8 px, T = 200.
    fn ddpm_config(self, steps: usize) -> DdpmConfig {
        DdpmConfig {
            classes: Some(vec![CLASS.to_owned()]),
            image_size: self.size,
            base_channels: 16,
            channel_mults: vec![1, 2, 2],
            res_blocks: 1,
            attention_resolutions: vec![8],
            schedule: NoiseSchedule::Linear,
            timesteps: 200,
            steps,
            batch_size: BATCH,
            lr: 2e-4,
            ema_decay: 0.999,
            min_snr_gamma: None,
            hflip: true,
            selection: SelectionConfig {
                every: steps,
                holdout: 0.1,
                samples: 2,
                ddim_steps: 1,
            },
        }
    }

    /// Base 16 channels, at most 64; otherwise `train.gan`'s defaults, ADA off.
    fn gan_config(self, steps: usize) -> GanConfig {
        GanConfig {
            classes: None,
            image_size: self.size,
            z_dim: 128,
            w_dim: 128,
            mapping_layers: 2,
            base_channels: 16,
            max_channels: 64,
            mbstd_group: 4,
            steps,
            batch_size: BATCH,
            lr_g: 2e-3,
            lr_d: 2e-3,
            ema_decay: 0.999,
            r1_gamma: 0.05,
            r1_interval: 16,
            hflip: true,
            ada: AdaConfig {
                enabled: false,
                ..AdaConfig::default()
            },
            selection: GanSelectionConfig {
                every: steps,
                holdout: 0.1,
                samples: 2,
            },
        }
    }

    /// The parameter counts of the networks, by name.
    fn params(self) -> Value {
        match self.family {
            Family::Ddpm => json!({ "unet": ddpm::parameter_count(&self.ddpm_config(1)) }),
            Family::Gan => {
                let (g, d) = gan::parameter_counts(&self.gan_config(1), PHANTOM.len());
                json!({ "generator": g, "discriminator": d })
            }
        }
    }

    /// Step counts (n₁, n₂) of a timed pair of training runs.
    fn train_counts(self, software: bool) -> (usize, usize) {
        match (self.family, software) {
            (Family::Ddpm, false) => (10, 30),
            (Family::Ddpm, true) => (1, 3),
            // R1 runs at steps 0, 16, 32, …: on the CPU the runs differ by one whole
            // interval; on a software adapter (a minute a step) they differ by two steps
            // without R1, which leaves out its cost (one D forward and backward every 16
            // steps).
            (Family::Gan, false) => (16, 32),
            (Family::Gan, true) => (1, 3),
        }
    }

    /// Image counts (n₁, n₂) of a timed pair of sampling runs.
    fn sample_counts(self, software: bool) -> (usize, usize) {
        match (self.family, software) {
            (Family::Ddpm, false) => (32, 96),
            (Family::Gan, false) => (256, 1280),
            (Family::Ddpm, true) => (32, 64),
            (Family::Gan, true) => (32, 96),
        }
    }

    /// Trains for `steps` steps into the empty `out`.
    fn train(
        self,
        steps: usize,
        data: &Path,
        out: &Path,
        device: &SelectedDevice,
        run: &Run,
    ) -> Result<(), StageError> {
        // Both families report their step; the watchdog reads it from `run.done`.
        let ddpm_step = |event: DdpmProgress| {
            if let DdpmProgress::Step { step, .. } = event {
                run.done.store(step, Ordering::Relaxed);
            }
        };
        let gan_step = |event: GanProgress| {
            if let GanProgress::Step { step, .. } = event {
                run.done.store(step, Ordering::Relaxed);
            }
        };
        let inputs = TrainInputs::images(data);
        match self.family {
            Family::Ddpm => {
                let io = run.io(out, device, &ddpm_step);
                train_ddpm(&self.ddpm_config(steps), SEED, inputs, &io)?
            }
            Family::Gan => {
                let io = run.io(out, device, &gan_step);
                train_gan(&self.gan_config(steps), SEED, inputs, &io)?
            }
        };
        Ok(())
    }

    /// Samples `n` images of `CLASS` from the generator in `model` into the empty `out`.
    fn sample(
        self,
        n: usize,
        model: &Path,
        out: &Path,
        device: &SelectedDevice,
        run: &Run,
    ) -> Result<(), StageError> {
        // The GAN takes no sampler params (`sample` refuses them).
        let diffusion = self.family == Family::Ddpm;
        let cfg = SampleConfig {
            classes: Some(vec![CLASS.to_owned()]),
            batch_size: SAMPLE_BATCH,
            sampler: diffusion.then_some(Sampler::Ddim),
            steps: diffusion.then_some(DDIM_STEPS),
            ..SampleConfig::new(n)
        };
        let progress = |p: SampleProgress| run.done.store(p.done, Ordering::Relaxed);
        sample_generator(model, &cfg, SEED, &run.io(out, device, &progress))?;
        Ok(())
    }
}

/// What a timed run reports to, and is stopped by: units (steps, images) done so far, and
/// the flag the budget's watchdog sets.
struct Run<'a> {
    done: &'a AtomicUsize,
    cancel: &'a AtomicBool,
}

impl Run<'_> {
    /// A stage's output folder and device, reporting through `progress` and stopped by
    /// the watchdog's flag.
    fn io<'b, P>(
        &'b self,
        out_dir: &'b Path,
        device: &'b SelectedDevice,
        progress: &'b dyn Fn(P),
    ) -> StageIo<'b, P> {
        StageIo {
            out_dir,
            device,
            progress,
            cancel: self.cancel,
        }
    }
}

/// The phantom's classes and sizes: two classes, so the GAN is conditional.
const PHANTOM: [(&str, u32); 2] = [(CLASS, 24), ("bacterial", 24)];

/// Fresh, empty directories under one root.
struct Scratch {
    root: tempfile::TempDir,
    next: usize,
}

impl Scratch {
    fn dir(&mut self) -> PathBuf {
        self.next += 1;
        let dir = self.root.path().join(format!("run-{}", self.next));
        fs::create_dir(&dir).expect("create a scratch directory");
        dir
    }

    /// The phantom data set at `size` px (made on first use).
    fn phantom(&self, size: u32) -> PathBuf {
        let dir = self.root.path().join(format!("phantom-{size}"));
        if !dir.exists() {
            fs::create_dir(&dir).expect("create the phantom directory");
            let cfg = PhantomConfig {
                size,
                classes: PHANTOM
                    .iter()
                    .map(|&(name, n)| (name.to_owned(), n))
                    .collect::<BTreeMap<_, _>>(),
                images_per_patient: 2,
            };
            generate_phantom(&cfg, 5, &dir).expect("generate the phantom");
        }
        dir
    }
}

/// Predicts a run's seconds as setup + per_unit · units, from the runs so far.
#[derive(Clone, Copy)]
struct Estimate {
    setup: f64,
    per_unit: f64,
}

impl Estimate {
    fn of(self, units: usize) -> f64 {
        self.setup + self.per_unit * units as f64
    }
}

/// The outcome of one measurement: the per-pair values, or why there are none.
#[derive(Default)]
struct Pairs {
    /// Seconds per unit (step or image) of each pair.
    per_unit: Vec<f64>,
    /// The lowest seconds per unit of any single run, setup included: an upper bound.
    bound: Option<f64>,
    skipped: Option<String>,
}

impl Pairs {
    fn skip(&mut self, why: String) {
        if self.per_unit.is_empty() {
            self.skipped = Some(why);
        } else {
            eprintln!("stopping after {} pair(s): {why}", self.per_unit.len());
        }
    }

    fn bound_by(&mut self, seconds: f64, units: usize) {
        let bound = seconds / units as f64;
        self.bound = Some(self.bound.map_or(bound, |b| b.min(bound)));
    }
}

/// One measurement's runs under its budget.
struct Timer<'a> {
    started: Instant,
    budget: Duration,
    /// Set by the watchdog when the budget is spent; the stage functions then stop.
    cancel: &'a AtomicBool,
    run: &'a mut dyn FnMut(usize, &Run) -> Result<(), StageError>,
    pairs: Pairs,
}

impl Timer<'_> {
    /// Does one run of `units` and returns its seconds, unless it is predicted to take
    /// `predicted` seconds past the budget, is cancelled, or fails.
    fn timed(&mut self, units: usize, predicted: f64) -> Option<f64> {
        let (elapsed, budget) = (self.started.elapsed().as_secs_f64(), self.budget.as_secs());
        if elapsed + predicted > budget as f64 {
            self.pairs.skip(format!(
                "a run of {units} would take about {predicted:.0} s more, past \
                 BENCH_BUDGET_S = {budget} ({elapsed:.0} s spent)"
            ));
            return None;
        }
        let done = AtomicUsize::new(0);
        let begun = Instant::now();
        let handle = Run {
            done: &done,
            cancel: self.cancel,
        };
        let result = (self.run)(units, &handle);
        let seconds = begun.elapsed().as_secs_f64();
        let done = done.load(Ordering::Relaxed);
        if done > 0 {
            self.pairs.bound_by(seconds, done);
        }
        match result {
            Ok(()) => Some(seconds),
            Err(StageError::Cancelled) => {
                self.pairs.skip(format!(
                    "cancelled at BENCH_BUDGET_S = {budget} during a run of {units} \
                     ({done} done in {seconds:.0} s)"
                ));
                None
            }
            Err(err) => {
                self.pairs.skip(format!("a run of {units} failed: {err}"));
                None
            }
        }
    }

    /// A warm-up run of `warmup` units, then up to `repeats` pairs of runs.
    fn measure(&mut self, (n1, n2): (usize, usize), warmup: usize, repeats: usize) {
        // The warm-up also compiles wgpu's kernels; it is held to the budget only by the
        // watchdog.
        let Some(warm) = self.timed(warmup, 0.0) else {
            return;
        };
        // Upper bounds at first: setup (and compilation) counted as work.
        let mut estimate = Estimate {
            setup: 0.0,
            per_unit: warm / warmup as f64,
        };
        for _ in 0..repeats {
            let Some(t1) = self.timed(n1, estimate.of(n1)) else {
                return;
            };
            if self.pairs.per_unit.is_empty() {
                estimate.per_unit = t1 / n1 as f64;
            }
            let Some(t2) = self.timed(n2, estimate.of(n2)) else {
                return;
            };
            let per_unit = (t2 - t1) / (n2 - n1) as f64;
            self.pairs.per_unit.push(per_unit);
            estimate = Estimate {
                setup: (t1 - per_unit * n1 as f64).max(0.0),
                per_unit: per_unit.max(0.0),
            };
        }
    }
}

/// Times pairs of runs of `counts` = (n₁, n₂) units after one untimed warm-up run of
/// `warmup` units; `run(units, handle)` does one run. A run predicted to end past
/// `budget` after the start is not started, and the one still going then is cancelled.
fn time_pairs(
    counts: (usize, usize),
    warmup: usize,
    repeats: usize,
    budget: Duration,
    run: &mut dyn FnMut(usize, &Run) -> Result<(), StageError>,
) -> Pairs {
    let started = Instant::now();
    let cancel = AtomicBool::new(false);
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                if started.elapsed() >= budget {
                    cancel.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut timer = Timer {
            started,
            budget,
            cancel: &cancel,
            run,
            pairs: Pairs::default(),
        };
        timer.measure(counts, warmup, repeats);
        finished.store(true, Ordering::Relaxed);
        timer.pairs
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Prints the result line of one measurement: `key` is the reported value's name and
/// `value` turns seconds per unit into it.
fn report(base: Value, pairs: Pairs, key: &str, value: fn(f64) -> f64, started: Instant) {
    let mut line = base;
    let fields = line.as_object_mut().expect("an object");
    match pairs.skipped {
        Some(why) => {
            fields.insert("skipped".into(), json!(why));
            // A single run's time per unit, setup included: the best this backend did.
            if let Some(bound) = pairs.bound {
                fields.insert("bound".into(), json!(round4(value(bound))));
            }
        }
        None => {
            let values: Vec<f64> = pairs.per_unit.iter().map(|&s| value(s)).collect();
            let spread = [
                values.iter().copied().fold(f64::INFINITY, f64::min),
                values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ];
            fields.insert(key.into(), json!(round4(median(values.clone()))));
            fields.insert("spread".into(), json!(spread.map(round4)));
            fields.insert("pairs".into(), json!(values.len()));
        }
    }
    fields.insert(
        "total_s".into(),
        json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0),
    );
    println!("{line}");
}

fn round4(x: f64) -> f64 {
    if x.abs() >= 1.0 {
        (x * 1e3).round() / 1e3
    } else {
        let scale = 10f64.powi(4 - x.abs().log10().ceil() as i32);
        (x * scale).round() / scale
    }
}

fn main() {
    let args: Vec<String> = env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut backends: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["cpu", "cuda", "wgpu"].contains(a))
        .collect();
    if backends.is_empty() {
        backends = vec!["cpu", "wgpu"];
    }
    // Any `ddpm<size>` / `gan<size>` (bench/gpu.sh asks for ddpm64, ddpm128).
    let mut cases: Vec<Case> = args.iter().filter_map(|a| Case::parse(a)).collect();
    if cases.is_empty() {
        cases = CASES.to_vec();
    }
    let budget = Duration::from_secs(env_number("BENCH_BUDGET_S", 300));
    let mut scratch = Scratch {
        root: tempfile::tempdir().expect("create a scratch root"),
        next: 0,
    };
    for case in &cases {
        println!(
            "{}",
            json!({
                "framework": "burn",
                "model": case.model(),
                "size": case.size,
                "measure": "params",
                "params": case.params(),
            })
        );
    }
    for backend in backends {
        let Some((device, software)) = bench_support::select_backend(backend) else {
            continue;
        };
        let repeats = env_number("BENCH_REPEATS", if software { 1 } else { 3 }) as usize;
        for &case in &cases {
            let data = scratch.phantom(case.size);
            let base = |measure: &str, batch: usize, counts: (usize, usize), unit: &str| {
                let mut line = json!({
                    "framework": "burn",
                    "backend": device.name,
                    "model": case.model(),
                    "size": case.size,
                    "batch": batch,
                    "measure": measure,
                });
                line[unit] = json!([counts.0, counts.1]);
                line
            };

            // Training; the warm-up run's generator is the one sampled below.
            let started = Instant::now();
            let model = scratch.dir();
            let mut warm_model = Some(model.clone());
            let counts = case.train_counts(software);
            let pairs = time_pairs(counts, 1, repeats, budget, &mut |steps, run| {
                let out = warm_model.take().unwrap_or_else(|| scratch.dir());
                let result = case.train(steps, &data, &out, &device, run);
                if out != model {
                    fs::remove_dir_all(&out).expect("remove a scratch directory");
                }
                result
            });
            let trained = model.join("generator.json").is_file();
            report(
                base("train", BATCH, counts, "steps"),
                pairs,
                "s_per_step",
                |s| s,
                started,
            );

            // Sampling.
            let started = Instant::now();
            let counts = case.sample_counts(software);
            let pairs = if trained {
                time_pairs(counts, SAMPLE_BATCH, repeats, budget, &mut |n, run| {
                    let out = scratch.dir();
                    let result = case.sample(n, &model, &out, &device, run);
                    fs::remove_dir_all(&out).expect("remove a scratch directory");
                    result
                })
            } else {
                Pairs {
                    skipped: Some("no trained generator to sample".to_owned()),
                    ..Pairs::default()
                }
            };
            report(
                base("sample", SAMPLE_BATCH, counts, "images"),
                pairs,
                "images_per_s",
                |s| 1.0 / s,
                started,
            );
        }
    }
}
