//! The training loop every latent diffusion stage shares: ε-prediction MSE on latents of
//! the training images with their prompts, prompts dropped to the empty prompt with
//! probability `cfg_dropout`, Adam with a linear warm-up over the first 5% of steps, and
//! (DreamBooth) the prior-preservation term.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngCore;

use super::config::LoopParams;
use super::model::LatentDiffusion;
use super::{LatentProgress, LossWindow, flip_rows, scalar};
use crate::StageError;
use crate::generators::ddpm::schedule::Schedule;
use crate::rng::{EpochOrder, keyed_rng, normal, unit};

/// One training example: a scaled latent [c, s, s] and its prompt's tokens.
#[derive(Debug, Clone)]
pub(crate) struct Example {
    pub latent: Vec<f32>,
    /// The scaled latent of the left-right mirrored image, used when `hflip` picks this
    /// example to be flipped (the encoder is not mirror-equivariant, so mirroring the
    /// latent itself would not give the latent of a mirrored image). `None`: never
    /// flipped (DreamBooth's prior latents, which have no image).
    pub mirrored: Option<Vec<f32>>,
    pub tokens: Vec<usize>,
}

pub(crate) struct LoopConfig<'a> {
    /// Named in progress events and in `generator.json`'s loss series.
    pub phase: String,
    pub seed: u64,
    /// Keys this loop's random streams (batches, timesteps, noise, dropout, flips).
    pub stream: &'a str,
    pub steps: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub cfg_dropout: f64,
    pub hflip: bool,
    pub schedule: &'a Schedule,
    pub channels: usize,
    pub side: usize,
    /// DreamBooth: the prior examples and the weight λ of their loss.
    pub prior: Option<(&'a [Example], f64)>,
    /// The tokens a dropped prompt becomes; `None`: all zeros (the from-scratch
    /// encoder's padding, its empty prompt). Stable Diffusion's is the tokenised "".
    pub empty_prompt: Option<&'a [usize]>,
    /// Evaluate the fixed batch this many examples per forward (its peak memory, at
    /// Stable Diffusion's sizes); `None`: all in one forward.
    pub eval_chunk: Option<usize>,
}

impl<'a> LoopConfig<'a> {
    /// A loop over latents of `shape` (channels, side) under `schedule`, its random
    /// streams keyed by `seed` and `stream`: no prior term, dropped prompts all zeros,
    /// the evaluation batch in one forward (the stages that differ set those after).
    pub fn new(
        phase: &str,
        stream: &'a str,
        seed: u64,
        params: LoopParams,
        schedule: &'a Schedule,
        (channels, side): (usize, usize),
    ) -> Self {
        Self {
            phase: phase.to_owned(),
            seed,
            stream,
            steps: params.steps,
            batch_size: params.batch_size,
            lr: params.lr,
            cfg_dropout: params.cfg_dropout,
            hflip: params.hflip,
            schedule,
            channels,
            side,
            prior: None,
            empty_prompt: None,
            eval_chunk: None,
        }
    }
}

/// Examples of `rows` (images of `size`² pixels), each with `tokens`, their latents by
/// `encode`; with `hflip`, also the latents of the rows mirrored left-right (encoded, not
/// mirrored in latent space: the encoder is not mirror-equivariant).
pub(crate) fn encode_examples(
    rows: &[Vec<f32>],
    tokens: &[usize],
    hflip: bool,
    size: usize,
    encode: impl Fn(&[Vec<f32>]) -> Result<Vec<Vec<f32>>, StageError>,
) -> Result<Vec<Example>, StageError> {
    let latents = encode(rows)?;
    let mirrored: Vec<Option<Vec<f32>>> = if hflip {
        let views: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let flipped = flip_rows(&views, &vec![true; rows.len()], size);
        encode(&flipped)?.into_iter().map(Some).collect()
    } else {
        vec![None; rows.len()]
    };
    Ok(latents
        .into_iter()
        .zip(mirrored)
        .map(|(latent, mirrored)| Example {
            latent,
            mirrored,
            tokens: tokens.to_vec(),
        })
        .collect())
}

/// A prompt-conditioned noise predictor the loop can train: the from-scratch
/// [`LatentDiffusion`] or Stable Diffusion's text encoder + U-Net.
pub(crate) trait Denoiser: Module + Clone {
    /// ε̂ for latents `x` at steps `t` with token rows `tokens` (one per image).
    fn predict(&self, x: Tensor<4>, t: &[usize], tokens: &[Vec<usize>]) -> Tensor<4>;
}

impl Denoiser for LatentDiffusion {
    fn predict(&self, x: Tensor<4>, t: &[usize], tokens: &[Vec<usize>]) -> Tensor<4> {
        self.forward(x, t, tokens)
    }
}

/// The DreamBooth objective (Ruiz et al. 2023, eq. 2): the instance ε-MSE plus
/// `prior_weight` × the ε-MSE on the prior (class-prompt) batch.
pub(crate) fn prior_preservation_loss(
    instance: (Tensor<4>, Tensor<4>),
    prior: (Tensor<4>, Tensor<4>),
    prior_weight: f64,
) -> Tensor<1> {
    mse(instance.0, instance.1) + mse(prior.0, prior.1).mul_scalar(prior_weight)
}

pub(crate) fn mse(pred: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    (pred - target).powi_scalar(2).mean()
}

/// What a training loop returns: the trained model (inference copy), the windowed
/// training losses, and the loss on a fixed evaluation batch (the first
/// [`EVAL_BATCH`] examples with fixed noise and timesteps) before and after training.
pub(crate) struct Trained<M = LatentDiffusion> {
    pub model: M,
    pub losses: Vec<f32>,
    pub eval: [f32; 2],
}

impl<M> Trained<M> {
    /// The loss series for `generator.json`: the windowed losses under `phase`, and the
    /// evaluation pair under "`phase` eval".
    pub fn series(&self, phase: &str) -> Vec<(String, Vec<f32>)> {
        vec![
            (phase.to_owned(), self.losses.clone()),
            (format!("{phase} eval"), self.eval.to_vec()),
        ]
    }
}

/// Examples in the fixed evaluation batch.
pub(crate) const EVAL_BATCH: usize = 16;

/// Trains `model` (on an autodiff device; frozen parameters stay as they are).
pub(crate) fn train_loop<M: Denoiser>(
    model: M,
    cfg: &LoopConfig<'_>,
    examples: &[Example],
    device: &Device,
    progress: &dyn Fn(LatentProgress),
    cancel: &AtomicBool,
) -> Result<Trained<M>, StageError> {
    if examples.is_empty() {
        return Err(StageError::InvalidConfig(format!(
            "{}: there are no training images",
            cfg.phase
        )));
    }
    let eval_batch: Vec<&Example> = examples.iter().take(EVAL_BATCH).collect();
    let evaluate = |model: &M| -> Result<f32, StageError> {
        let Some(chunk) = cfg.eval_chunk else {
            let (pred, eps) = noised_prediction(model, cfg, &eval_batch, usize::MAX, 9, device);
            return scalar(&mse(pred, eps));
        };
        // Chunk k draws its own noise; the chunks' MSEs weighted by their sizes.
        let mut total = 0.0;
        for (k, part) in eval_batch.chunks(chunk.max(1)).enumerate() {
            let (pred, eps) = noised_prediction(model, cfg, part, usize::MAX - k, 9, device);
            total += scalar(&mse(pred, eps))? * part.len() as f32;
        }
        Ok(total / eval_batch.len() as f32)
    };
    let before = evaluate(&model)?;
    let mut model = model;
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let warmup = (cfg.steps / 20).max(1);
    let mut window = LossWindow::default();
    let mut epochs = EpochOrder::new(examples.len());
    for step in 0..cfg.steps {
        if cancel.load(Ordering::Relaxed) {
            return Err(StageError::Cancelled);
        }
        let batch: Vec<&Example> = epochs
            .next_batch(cfg.batch_size, || {
                keyed_rng(cfg.seed, cfg.stream, &[0, step as u64])
            })
            .into_iter()
            .map(|i| &examples[i])
            .collect();
        let instance = noised_prediction(&model, cfg, &batch, step, 1, device);
        let loss = match cfg.prior {
            None => mse(instance.0, instance.1),
            Some((prior, weight)) => {
                let mut rng = keyed_rng(cfg.seed, cfg.stream, &[2, step as u64]);
                let picks: Vec<&Example> = (0..cfg.batch_size)
                    .map(|_| {
                        let i = (u64::from(rng.next_u32()) * prior.len() as u64) >> 32;
                        &prior[i as usize]
                    })
                    .collect();
                let prior_pair = noised_prediction(&model, cfg, &picks, step, 3, device);
                prior_preservation_loss(instance, prior_pair, weight)
            }
        };
        let value = scalar(&loss)?;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = cfg.lr * ((step + 1) as f64 / warmup as f64).min(1.0);
        model = optim.step(lr, model, grads);
        window.push(value, step + 1 == cfg.steps);
        progress(LatentProgress::Step {
            phase: cfg.phase.clone(),
            step: step + 1,
            steps: cfg.steps,
            loss: value,
        });
    }
    let after = evaluate(&model)?;
    Ok(Trained {
        model: model.valid(),
        losses: window.into_means(),
        eval: [before, after],
    })
}

/// (ε̂, ε) for `batch` noised at random steps; `part` separates the instance and prior
/// streams of one step.
fn noised_prediction<M: Denoiser>(
    model: &M,
    cfg: &LoopConfig<'_>,
    batch: &[&Example],
    step: usize,
    part: u64,
    device: &Device,
) -> (Tensor<4>, Tensor<4>) {
    let (c, s) = (cfg.channels, cfg.side);
    let b = batch.len();
    let mut rng = keyed_rng(cfg.seed, cfg.stream, &[part, step as u64]);
    let steps = cfg.schedule.steps() as u64;
    let mut x0 = Vec::with_capacity(b * c * s * s);
    let mut tokens = Vec::with_capacity(b);
    let mut t = Vec::with_capacity(b);
    for example in batch {
        let flip = cfg.hflip && unit(&mut rng) < 0.5;
        match &example.mirrored {
            Some(mirrored) if flip => x0.extend_from_slice(mirrored),
            _ => x0.extend_from_slice(&example.latent),
        }
        let drop = unit(&mut rng) < cfg.cfg_dropout as f32;
        tokens.push(match (drop, cfg.empty_prompt) {
            (true, Some(empty)) => empty.to_vec(),
            (true, None) => vec![0; example.tokens.len()],
            (false, _) => example.tokens.clone(),
        });
        t.push(((u64::from(rng.next_u32()) * steps) >> 32) as usize);
    }
    let eps: Vec<f32> = (0..b * c * s * s).map(|_| normal(&mut rng)).collect();
    let x0 = Tensor::<4>::from_data(TensorData::new(x0, [b, c, s, s]), device);
    let eps = Tensor::<4>::from_data(TensorData::new(eps, [b, c, s, s]), device);
    let column = |f: &dyn Fn(f64) -> f64| cfg.schedule.column(&t, device, f);
    let xt = x0 * column(&|ab| ab.sqrt()) + eps.clone() * column(&|ab| (1.0 - ab).sqrt());
    (model.predict(xt, &t, &tokens), eps)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::{mse, prior_preservation_loss};

    fn tensor(values: &[f32], device: &Device) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [1, 1, 1, values.len()]),
            device,
        )
    }

    #[test]
    fn dreambooth_loss_adds_the_weighted_prior_term() {
        let device = Device::flex();
        let instance = (tensor(&[1.0, 2.0], &device), tensor(&[0.0, 0.0], &device));
        let prior = (tensor(&[3.0, 1.0], &device), tensor(&[1.0, 1.0], &device));
        // Instance MSE (1 + 4) / 2 = 2.5; prior MSE (4 + 0) / 2 = 2.
        for (weight, expected) in [(0.0, 2.5f32), (1.0, 4.5), (0.25, 3.0)] {
            let loss = prior_preservation_loss(instance.clone(), prior.clone(), weight)
                .try_into_scalar::<f32>()
                .expect("scalar");
            assert!((loss - expected).abs() < 1e-6, "λ = {weight}: {loss}");
        }
        let plain = mse(instance.0, instance.1)
            .try_into_scalar::<f32>()
            .expect("scalar");
        assert!((plain - 2.5).abs() < 1e-6);
    }
}
