//! Training one DDPM per class: ε-prediction MSE, Adam with a short warm-up, EMA weights,
//! checkpoints scored against held-out real training images.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngCore;
use serde::Serialize;

use super::sample::{DrawSpec, draw};
use super::schedule::Schedule;
use super::unet::UNet;
use crate::backend::SelectedDevice;
use crate::generators::TrainInputs;
use crate::generators::artifact::{Checkpoint, GeneratorFile, GeneratorSpec, LossWindow};
use crate::generators::ema::ema_update;
use crate::generators::images::{ClassImages, batch_tensor};
use crate::generators::select::{
    SelectionScore, SelectionSpace, TrainingSet, selection_score, space_of, split_holdout,
};
use crate::generators::{DdpmConfig, Sampler};
use crate::init::{InitPolicy, SeededInit};
use crate::rng::{EpochOrder, keyed_rng, normal, unit};
use crate::weights::module_bytes;
use crate::{StageError, StageIo};

/// Progress events; the trainer never prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DdpmProgress {
    /// After each optimiser step. Classes and steps count from 1.
    Step {
        class: String,
        class_number: usize,
        classes: usize,
        step: usize,
        steps: usize,
        loss: f32,
    },
    /// After each checkpoint's selection score and its spread.
    Checkpoint {
        class: String,
        step: usize,
        kid: f64,
        spread: f64,
    },
}

/// Trains one DDPM per class of the image set `inputs.train` (or per `cfg.classes`) and
/// writes `generator.json` and `ddpm-<class>.safetensors` (the selected EMA weights) into
/// the empty `out_dir`. Same seed and device ⇒ same bytes.
pub fn train_ddpm(
    cfg: &DdpmConfig,
    seed: u64,
    inputs: TrainInputs<'_>,
    io: &StageIo<'_, DdpmProgress>,
) -> Result<GeneratorFile, StageError> {
    io.start(cfg)?;
    let TrainingSet {
        net,
        classes,
        groups,
        wanted,
    } = TrainingSet::load(
        inputs,
        cfg.image_size,
        cfg.classes.as_deref(),
        cfg.selection.holdout,
        io.device,
    )?;
    let schedule = Schedule::new(cfg.schedule, cfg.timesteps);
    let mut checkpoints = Vec::new();
    let mut losses = Vec::new();
    for (number, &index) in wanted.iter().enumerate() {
        let class = &classes[index];
        let job = ClassJob {
            cfg,
            seed,
            schedule: &schedule,
            class,
            class_index: index,
            number: number + 1,
            classes: wanted.len(),
            space: space_of(net.as_ref()),
        };
        let (checkpoint, class_losses, weights) =
            job.train(&groups[index], io.device, io.progress, io.cancel)?;
        let path = io.out_dir.join(&checkpoint.weights);
        std::fs::write(&path, weights).map_err(|source| StageError::Write { path, source })?;
        checkpoints.push(checkpoint);
        losses.push((class.clone(), class_losses));
    }
    let spec = GeneratorSpec::Ddpm {
        unet: cfg.unet(),
        schedule: cfg.schedule,
        timesteps: cfg.timesteps,
    };
    GeneratorFile::write_new(
        io.out_dir,
        spec,
        cfg.image_size,
        classes,
        checkpoints,
        losses,
    )
}

struct ClassJob<'a> {
    cfg: &'a DdpmConfig,
    seed: u64,
    schedule: &'a Schedule,
    class: &'a str,
    class_index: usize,
    number: usize,
    classes: usize,
    space: SelectionSpace<'a>,
}

impl ClassJob<'_> {
    fn rng(&self, purpose: &str, parts: &[u64]) -> rand_chacha::ChaCha8Rng {
        let mut keyed = vec![self.class_index as u64];
        keyed.extend_from_slice(parts);
        keyed_rng(self.seed, purpose, &keyed)
    }

    fn train(
        &self,
        images: &ClassImages,
        device: &SelectedDevice,
        progress: &dyn Fn(DdpmProgress),
        cancel: &AtomicBool,
    ) -> Result<(Checkpoint, Vec<f32>, Vec<u8>), StageError> {
        let cfg = self.cfg;
        let size = images.size;
        let (train, holdout) = split_holdout(
            &images.rows,
            cfg.selection.holdout,
            &mut self.rng("ddpm-holdout", &[]),
            self.class,
            "a DDPM",
        )?;
        let held_out = self.space.features(&holdout, size)?;
        let ad = device.device.clone().autodiff();
        let init_seed = self.rng("ddpm-init", &[]).next_u64();
        let mut model = UNet::new(&cfg.unet(), cfg.image_size, &ad)
            .map(&mut SeededInit::new(init_seed, InitPolicy::TorchDefault));
        let mut ema = model.valid();
        let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
        let warmup = (cfg.steps / 20).max(1);
        let mut epochs = EpochOrder::new(train.len());
        let mut window = LossWindow::default();
        let mut best: Option<(usize, f64, Vec<u8>)> = None;
        let (mut scores, mut spreads) = (Vec::new(), Vec::new());
        for step in 0..cfg.steps {
            if cancel.load(Ordering::Relaxed) {
                return Err(StageError::Cancelled);
            }
            let batch: Vec<&[f32]> = epochs
                .next_batch(cfg.batch_size, || self.rng("ddpm-order", &[step as u64]))
                .into_iter()
                .map(|i| train[i])
                .collect();
            let loss = self.loss(&model, &batch, size, step, &ad);
            let loss_value = loss.clone().try_into_scalar::<f32>().map_err(|err| {
                StageError::Backend(format!("read a loss from the device: {err}"))
            })?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = cfg.lr * ((step + 1) as f64 / warmup as f64).min(1.0);
            model = optim.step(lr, model, grads);
            // EMA warm-up (as in common DDPM code): early averages do not drag in the init.
            let decay = cfg.ema_decay.min((1 + step) as f64 / (10 + step) as f64);
            ema = ema_update(ema, &model, decay);
            window.push(loss_value, step + 1 == cfg.steps);
            progress(DdpmProgress::Step {
                class: self.class.to_owned(),
                class_number: self.number,
                classes: self.classes,
                step: step + 1,
                steps: cfg.steps,
                loss: loss_value,
            });
            if holdout.is_empty() && step + 1 == cfg.steps {
                // `selection.holdout: 0`: the last EMA weights, no image spent on selection.
                best = Some((step + 1, 0.0, module_bytes(&ema, "ddpm")?));
            } else if !holdout.is_empty()
                && ((step + 1) % cfg.selection.every == 0 || step + 1 == cfg.steps)
            {
                let SelectionScore { kid, spread } =
                    self.score(&ema, &held_out, size, &device.device, cancel)?;
                scores.push((step + 1, kid));
                spreads.push((step + 1, spread));
                progress(DdpmProgress::Checkpoint {
                    class: self.class.to_owned(),
                    step: step + 1,
                    kid,
                    spread,
                });
                if best.as_ref().is_none_or(|(_, b, _)| kid < *b || b.is_nan()) {
                    best = Some((step + 1, kid, module_bytes(&ema, "ddpm")?));
                }
            }
        }
        let Some((step, score, weights)) = best else {
            return Err(StageError::InvalidConfig("steps is 0".to_owned()));
        };
        Ok((
            Checkpoint {
                class: self.class.to_owned(),
                weights: format!("ddpm-{}.safetensors", self.class),
                step,
                score,
                scores,
                spreads,
                train_images: train.len(),
                holdout_images: holdout.len(),
            },
            window.into_means(),
            weights,
        ))
    }

    /// The ε-prediction loss ‖ε − ε̂(√ᾱ·x0 + √(1−ᾱ)·ε, t)‖² on one batch, each sample
    /// weighted by min(SNR_t, γ)/SNR_t with `min_snr_gamma`.
    fn loss(
        &self,
        model: &UNet,
        rows: &[&[f32]],
        size: usize,
        step: usize,
        device: &Device,
    ) -> Tensor<1> {
        let b = rows.len();
        let mut rng = self.rng("ddpm-step", &[step as u64]);
        let flips: Vec<bool> = rows
            .iter()
            .map(|_| self.cfg.hflip && unit(&mut rng) < 0.5)
            .collect();
        let t: Vec<usize> = rows
            .iter()
            .map(|_| ((u64::from(rng.next_u32()) * self.schedule.steps() as u64) >> 32) as usize)
            .collect();
        let eps_values: Vec<f32> = (0..b * size * size).map(|_| normal(&mut rng)).collect();
        let x0 = batch_tensor(rows, &flips, size, device);
        let eps = Tensor::<4>::from_data(TensorData::new(eps_values, [b, 1, size, size]), device);
        let column = |f: &dyn Fn(f64) -> f64| self.schedule.column(&t, device, f);
        let a = column(&|ab| ab.sqrt());
        let s = column(&|ab| (1.0 - ab).sqrt());
        let xt = x0 * a + eps.clone() * s;
        let pred = model.forward(xt, &t);
        let squared = (pred - eps).powi_scalar(2);
        match self.cfg.min_snr_gamma {
            None => squared.mean(),
            Some(gamma) => {
                let weight = column(&|ab| {
                    let snr = ab / (1.0 - ab);
                    snr.min(gamma) / snr
                });
                (squared * weight).mean()
            }
        }
    }

    fn score(
        &self,
        ema: &UNet,
        held_out: &[Vec<f32>],
        size: usize,
        device: &Device,
        cancel: &AtomicBool,
    ) -> Result<SelectionScore, StageError> {
        let sel = &self.cfg.selection;
        let spec = DrawSpec {
            schedule: self.schedule,
            sampler: Sampler::Ddim,
            steps: sel.ddim_steps,
            size,
            channels: 1,
            clip: true,
            seed: self.seed,
            stream: "ddpm-selection",
            class_index: self.class_index,
            count: sel.samples,
            batch: sel.samples.min(32),
        };
        let drawn = draw(ema, &spec, device, &mut |_| {}, cancel)?;
        selection_score(&drawn, held_out, size, self.space)
    }
}
