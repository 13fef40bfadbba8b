//! Training the conditional GAN: alternating discriminator and generator steps with the
//! non-saturating logistic loss, lazy finite-difference R1 on reals, ADA on everything D
//! sees, an EMA of the generator, and checkpoints scored per class against held-out real
//! training images.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use super::ada::{AdaController, augment};
use super::discriminator::Discriminator;
use super::generator::Generator;
use super::layers::Init;
use super::sample::{DrawSpec, draw, gen_inputs};
use crate::backend::SelectedDevice;
use crate::generators::GanConfig;
use crate::generators::TrainInputs;
use crate::generators::artifact::{Checkpoint, GeneratorFile, GeneratorSpec, LOSS_WINDOW};
use crate::generators::ema::ema_update;
use crate::generators::images::batch_tensor;
use crate::generators::select::{
    SelectionScore, SelectionSpace, TrainingSet, selection_score, space_of, split_holdout,
};
use crate::rng::{EpochOrder, keyed_rng, normal, unit};
use crate::weights::module_bytes;
use crate::{StageError, StageIo};

/// The finite-difference step of the R1 estimate, in pixel units (images span [−1, 1]).
const R1_EPSILON: f64 = 1e-2;
/// The weights file: the selected EMA generator.
const WEIGHTS: &str = "gan.safetensors";

/// Progress events; the trainer never prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum GanProgress {
    /// After each training step (counted from 1).
    Step {
        step: usize,
        steps: usize,
        loss_g: f32,
        loss_d: f32,
        /// ADA's augmentation probability.
        p: f64,
    },
    /// After each checkpoint's selection scores (KID per class, their mean, and the
    /// mean's spread).
    Checkpoint {
        step: usize,
        kid: f64,
        spread: f64,
        per_class: Vec<(String, f64)>,
    },
}

/// One trained-on class: its real images for training and those held out for selection.
struct ClassData<'i> {
    name: String,
    index: usize,
    train: Vec<&'i [f32]>,
    holdout: Vec<Vec<f32>>,
}

/// Trains one class-conditional GAN on the classes of the image set `inputs.train` (or
/// `cfg.classes`) and writes `generator.json` and `gan.safetensors` (the selected EMA
/// generator) into the empty `out_dir`. Same seed and device ⇒ same bytes.
pub fn train_gan(
    cfg: &GanConfig,
    seed: u64,
    inputs: TrainInputs<'_>,
    io: &StageIo<'_, GanProgress>,
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
    let mut data = Vec::with_capacity(wanted.len());
    for index in wanted {
        let name = &classes[index];
        let mut rng = keyed_rng(seed, "gan-holdout", &[index as u64]);
        let (train, holdout) = split_holdout(
            &groups[index].rows,
            cfg.selection.holdout,
            &mut rng,
            name,
            "the GAN",
        )?;
        data.push(ClassData {
            name: name.clone(),
            index,
            train,
            holdout,
        });
    }
    let size = cfg.image_size as usize;
    let trainer = Trainer {
        cfg,
        seed,
        size,
        num_classes: classes.len(),
        data: &data,
        space: space_of(net.as_ref()),
    };
    let outcome = trainer.run(io.device, io.progress, io.cancel)?;
    let path = io.out_dir.join(WEIGHTS);
    std::fs::write(&path, &outcome.weights).map_err(|source| StageError::Write { path, source })?;
    let checkpoints = data
        .iter()
        .map(|class| Checkpoint {
            class: class.name.clone(),
            weights: WEIGHTS.to_owned(),
            step: outcome.step,
            score: outcome.score,
            scores: outcome.scores.clone(),
            spreads: outcome.spreads.clone(),
            train_images: class.train.len(),
            holdout_images: class.holdout.len(),
        })
        .collect();
    let mut losses = vec![
        ("g".to_owned(), outcome.loss_g),
        ("d".to_owned(), outcome.loss_d),
    ];
    if cfg.ada.enabled {
        losses.push(("ada_p".to_owned(), outcome.ada_p));
    }
    let spec = GeneratorSpec::Gan {
        generator: cfg.generator(classes.len()),
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

struct Outcome {
    step: usize,
    score: f64,
    scores: Vec<(usize, f64)>,
    spreads: Vec<(usize, f64)>,
    weights: Vec<u8>,
    loss_g: Vec<f32>,
    loss_d: Vec<f32>,
    ada_p: Vec<f32>,
}

/// Means of a per-step series over windows of `LOSS_WINDOW` steps.
#[derive(Default)]
struct Windowed {
    sum: f64,
    len: usize,
    means: Vec<f32>,
}

impl Windowed {
    fn push(&mut self, value: f64, last: bool) {
        self.sum += value;
        self.len += 1;
        if self.len == LOSS_WINDOW || last {
            self.means.push((self.sum / self.len as f64) as f32);
            (self.sum, self.len) = (0.0, 0);
        }
    }
}

/// What both updates of one training step share.
#[derive(Clone, Copy)]
struct Step<'s> {
    index: usize,
    batch: &'s [(usize, &'s [f32])],
    /// ADA's augmentation probability.
    p: f64,
    /// The autodiff device, and the same device without autodiff.
    ad: &'s Device,
    plain: &'s Device,
}

struct Trainer<'a> {
    cfg: &'a GanConfig,
    seed: u64,
    size: usize,
    num_classes: usize,
    data: &'a [ClassData<'a>],
    space: SelectionSpace<'a>,
}

impl Trainer<'_> {
    fn run(
        &self,
        device: &SelectedDevice,
        progress: &dyn Fn(GanProgress),
        cancel: &AtomicBool,
    ) -> Result<Outcome, StageError> {
        let cfg = self.cfg;
        let spec = cfg.generator(self.num_classes);
        let ad = device.device.clone().autodiff();
        let mut g = Generator::new(
            &spec,
            cfg.image_size,
            &mut Init::new(self.seed, "gan-g-init"),
            &ad,
        );
        let mut d = Discriminator::new(
            &spec,
            cfg.image_size,
            cfg.mbstd_group,
            &mut Init::new(self.seed, "gan-d-init"),
            &ad,
        );
        let mut ema = g.valid();
        let adam = AdamConfig::new()
            .with_beta_1(0.0)
            .with_beta_2(0.99)
            .with_epsilon(1e-8);
        let (mut optim_g, mut optim_d) = (adam.init(), adam.init());
        let mut ada = AdaController::new(&cfg.ada, cfg.batch_size);
        // Every (class, image) pair, in epochs of a seeded permutation.
        let pool: Vec<(usize, &[f32])> = self
            .data
            .iter()
            .flat_map(|class| class.train.iter().map(|&row| (class.index, row)))
            .collect();
        let mut epochs = EpochOrder::new(pool.len());
        let (mut loss_g, mut loss_d, mut ada_p) = (
            Windowed::default(),
            Windowed::default(),
            Windowed::default(),
        );
        let mut best: Option<(usize, f64, Vec<u8>)> = None;
        let (mut scores, mut spreads) = (Vec::new(), Vec::new());
        // Each class's held-out images in the selection space, computed once.
        let held_out = self
            .data
            .iter()
            .map(|class| self.space.features(&class.holdout, self.size))
            .collect::<Result<Vec<_>, _>>()?;
        for step in 0..cfg.steps {
            if cancel.load(Ordering::Relaxed) {
                return Err(StageError::Cancelled);
            }
            let batch: Vec<(usize, &[f32])> = epochs
                .next_batch(cfg.batch_size, || {
                    keyed_rng(self.seed, "gan-order", &[step as u64])
                })
                .into_iter()
                .map(|i| pool[i])
                .collect();
            let p = if cfg.ada.enabled { ada.p() } else { 0.0 };
            let state = Step {
                index: step,
                batch: &batch,
                p,
                ad: &ad,
                plain: &device.device,
            };
            let (d_value, signs);
            (d, d_value, signs) = self.d_step(d, &mut optim_d, &g, &state)?;
            ada.observe(signs, batch.len());
            let g_value;
            (g, g_value) = self.g_step(g, &mut optim_g, &d, &state)?;
            // EMA warm-up as in the DDPM trainer: early averages do not drag in the init.
            let decay = cfg.ema_decay.min((1 + step) as f64 / (10 + step) as f64);
            ema = ema_update(ema, &g, decay);
            if cfg.ada.enabled {
                ada.end_step();
            }
            let last = step + 1 == cfg.steps;
            loss_g.push(f64::from(g_value), last);
            loss_d.push(f64::from(d_value), last);
            ada_p.push(ada.p(), last);
            progress(GanProgress::Step {
                step: step + 1,
                steps: cfg.steps,
                loss_g: g_value,
                loss_d: d_value,
                p: ada.p(),
            });
            if cfg.selection.holdout == 0.0 {
                // `selection.holdout: 0`: the last EMA weights, no image spent on selection.
                if last {
                    best = Some((step + 1, 0.0, module_bytes(&ema, "gan")?));
                }
            } else if (step + 1) % cfg.selection.every == 0 || last {
                let per_class = self.score(&ema, &held_out, &device.device, cancel)?;
                let n = per_class.len() as f64;
                let kid = per_class.iter().map(|(_, s)| s.kid).sum::<f64>() / n;
                // The classes' draws are independent: variances add.
                let spread = per_class
                    .iter()
                    .map(|(_, s)| s.spread.powi(2))
                    .sum::<f64>()
                    .sqrt()
                    / n;
                scores.push((step + 1, kid));
                spreads.push((step + 1, spread));
                progress(GanProgress::Checkpoint {
                    step: step + 1,
                    kid,
                    spread,
                    per_class: per_class.into_iter().map(|(c, s)| (c, s.kid)).collect(),
                });
                if best.as_ref().is_none_or(|(_, b, _)| kid < *b || b.is_nan()) {
                    best = Some((step + 1, kid, module_bytes(&ema, "gan")?));
                }
            }
        }
        let Some((step, score, weights)) = best else {
            return Err(StageError::InvalidConfig("steps is 0".to_owned()));
        };
        Ok(Outcome {
            step,
            score,
            scores,
            spreads,
            weights,
            loss_g: loss_g.means,
            loss_d: loss_d.means,
            ada_p: ada_p.means,
        })
    }

    /// One-hot rows [b, classes] for class indices.
    fn one_hot(&self, classes: &[usize], device: &Device) -> Tensor<2> {
        let mut values = vec![0.0f32; classes.len() * self.num_classes];
        for (j, &class) in classes.iter().enumerate() {
            values[j * self.num_classes + class] = 1.0;
        }
        Tensor::from_data(
            TensorData::new(values, [classes.len(), self.num_classes]),
            device,
        )
    }

    /// Discriminator update: softplus(D(fake)) + softplus(−D(real)), plus R1 every
    /// `r1_interval` steps. Returns D, the loss without R1 and Σ sign(D(real)).
    fn d_step(
        &self,
        d: Discriminator,
        optim: &mut ModuleOptimizer,
        g: &Generator,
        state: &Step<'_>,
    ) -> Result<(Discriminator, f32, f64), StageError> {
        let cfg = self.cfg;
        let Step {
            index: step,
            batch,
            p,
            ad,
            plain,
        } = *state;
        let (b, size) = (batch.len(), self.size);
        let mut rng = keyed_rng(self.seed, "gan-step", &[step as u64]);
        let flips: Vec<bool> = batch
            .iter()
            .map(|_| cfg.hflip && unit(&mut rng) < 0.5)
            .collect();
        let rows: Vec<&[f32]> = batch.iter().map(|(_, row)| *row).collect();
        let classes: Vec<usize> = batch.iter().map(|(class, _)| *class).collect();
        let labels = self.one_hot(&classes, ad);
        let real = batch_tensor(&rows, &flips, size, ad);
        // Fakes from a non-autodiff view of G: this step trains D only.
        let frozen = g.valid();
        let keys: Vec<Vec<u64>> = (0..b).map(|j| vec![step as u64, 0, j as u64]).collect();
        let fake = frozen
            .forward(gen_inputs(
                &frozen,
                self.seed,
                "gan-latent",
                &keys,
                &classes,
                plain,
            ))
            .autodiff();
        let mut aug = keyed_rng(self.seed, "gan-augment", &[step as u64, 0]);
        let fake = augment(fake, p, &mut aug, ad);
        let real = augment(real, p, &mut aug, ad);
        let d_fake = d.forward(fake, labels.clone());
        let d_real = d.forward(real.clone(), labels.clone());
        let mut loss = softplus(d_fake, 1.0).mean() + softplus(d_real.clone().neg(), 1.0).mean();
        let value = read_scalar(loss.clone())?;
        let signs = f64::from(read_scalar(d_real.clone().sign().sum())?);
        if cfg.r1_gamma > 0.0 && step.is_multiple_of(cfg.r1_interval) {
            // Lazy R1 (StyleGAN2): γ/2·E‖∇ₓD(x)‖² every `r1_interval` steps, scaled by the
            // interval. ‖∇ₓD‖² is estimated as ((D(x + εv) − D(x))/ε)² with v ~ N(0, I)
            // (E[(vᵀ∇D)²] = ‖∇D‖²); see the module docs for why.
            let mut v_rng = keyed_rng(self.seed, "gan-r1", &[step as u64]);
            let v: Vec<f32> = (0..b * size * size).map(|_| normal(&mut v_rng)).collect();
            let v = Tensor::<4>::from_data(TensorData::new(v, [b, 1, size, size]), ad);
            let moved = d.forward(real + v.mul_scalar(R1_EPSILON), labels);
            let slope = (moved - d_real).div_scalar(R1_EPSILON);
            let weight = cfg.r1_gamma / 2.0 * cfg.r1_interval as f64;
            loss = loss + slope.powi_scalar(2).mean().mul_scalar(weight);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &d);
        Ok((optim.step(cfg.lr_d, d, grads), value, signs))
    }

    /// Generator update: softplus(−D(G(z, c))) through the same augmentation.
    fn g_step(
        &self,
        g: Generator,
        optim: &mut ModuleOptimizer,
        d: &Discriminator,
        state: &Step<'_>,
    ) -> Result<(Generator, f32), StageError> {
        let Step {
            index: step,
            batch,
            p,
            ad,
            ..
        } = *state;
        let b = batch.len();
        let classes: Vec<usize> = batch.iter().map(|(class, _)| *class).collect();
        let labels = self.one_hot(&classes, ad);
        let keys: Vec<Vec<u64>> = (0..b).map(|j| vec![step as u64, 1, j as u64]).collect();
        let fake = g.forward(gen_inputs(&g, self.seed, "gan-latent", &keys, &classes, ad));
        let mut aug = keyed_rng(self.seed, "gan-augment", &[step as u64, 1]);
        let fake = augment(fake, p, &mut aug, ad);
        let loss = softplus(d.forward(fake, labels).neg(), 1.0).mean();
        let value = read_scalar(loss.clone())?;
        let grads = GradientsParams::from_grads(loss.backward(), &g);
        Ok((optim.step(self.cfg.lr_g, g, grads), value))
    }

    /// KID of `samples` EMA images per class against the class's held-out images
    /// (`held_out`: their features, in `self.data`'s order).
    fn score(
        &self,
        ema: &Generator,
        held_out: &[Vec<Vec<f32>>],
        device: &Device,
        cancel: &AtomicBool,
    ) -> Result<Vec<(String, SelectionScore)>, StageError> {
        let sel = &self.cfg.selection;
        let mut out = Vec::with_capacity(self.data.len());
        for (class, held_out) in self.data.iter().zip(held_out) {
            let spec = DrawSpec {
                seed: self.seed,
                stream: "gan-selection",
                class_index: class.index,
                size: self.size,
                truncation: 1.0,
                count: sel.samples,
                batch: sel.samples.min(32),
            };
            let drawn = draw(ema, &spec, device, &mut |_| {}, cancel)?;
            out.push((
                class.name.clone(),
                selection_score(&drawn, held_out, self.size, self.space)?,
            ));
        }
        Ok(out)
    }
}

fn read_scalar(x: Tensor<1>) -> Result<f32, StageError> {
    x.try_into_scalar::<f32>()
        .map_err(|err| StageError::Backend(format!("read a loss from the device: {err}")))
}
