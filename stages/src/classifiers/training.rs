//! The training loop: Adam, cosine annealing per batch, best epoch chosen on validation.

use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::config::TrainClassifierConfig;
use super::data::{LoadedSet, load_image_set, make_batch};
use super::eval::evaluate;
use super::model::Classifier;
use super::pretrained::load_pretrained;
use super::weights::{HISTORY_FILE, MODEL_FILE, ModelFile, WEIGHTS_FILE, weights_bytes};
use crate::json_file::write_json;
use crate::rng::{keyed_rng, permutation, unit};
use crate::{StageError, StageIo};

/// Grayscale input.
const IN_CHANNELS: usize = 1;

/// Progress events; the loop never prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainProgress {
    /// After each optimiser step. Epochs and batches count from 1.
    Batch {
        epoch: usize,
        epochs: usize,
        batch: usize,
        batches: usize,
        loss: f32,
        lr: f64,
    },
    /// After each epoch's validation.
    Epoch {
        epoch: usize,
        epochs: usize,
        train_loss: f32,
        val_loss: f32,
        val_balanced_accuracy: f32,
    },
}

/// One epoch of `history.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochRecord {
    /// Counted from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (with dropout and augmentation).
    pub train_loss: f32,
    /// Validation loss, with the same class weighting as training.
    pub val_loss: f32,
    pub val_accuracy: f32,
    /// Mean per-class recall over the classes present in the validation set.
    pub val_balanced_accuracy: f32,
    /// Learning rate of the epoch's first step.
    pub lr: f64,
}

/// Contents of `history.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
    /// The epoch whose weights were kept (counted from 1).
    pub best_epoch: usize,
}

/// What a training run returns besides its files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    pub best_epoch: usize,
    pub best_val_balanced_accuracy: f32,
    pub best_val_loss: f32,
    pub train_images: usize,
    pub val_images: usize,
    pub trainable_params: usize,
    /// The device's name, e.g. "cpu-flex"; results are reproducible only on the same one.
    pub device: String,
    pub seconds: f64,
}

/// Cosine annealing from `lr` towards 0 over `total` steps: lr·½(1 + cos(π·step/total)).
pub fn cosine_lr(lr: f64, step: usize, total: usize) -> f64 {
    if total == 0 {
        return lr;
    }
    let progress = step.min(total) as f64 / total as f64;
    lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Trains a classifier on the image set in `train_dir`, picks the epoch with the best
/// validation balanced accuracy (ties: lower validation loss, then the earlier epoch) and
/// writes `model.safetensors`, `model.json` and `history.json` into `out_dir`, which must
/// be empty or absent.
///
/// With the same seed and device the files are byte-identical: initialisation,
/// shuffling, augmentation and dropout each draw from a stream keyed by `seed`.
pub fn train_classifier(
    cfg: &TrainClassifierConfig,
    seed: u64,
    train_dir: &Path,
    val_dir: &Path,
    io: &StageIo<'_, TrainProgress>,
) -> Result<TrainReport, StageError> {
    let started = Instant::now();
    cfg.validate()?;
    prepare_out_dir(io.out_dir)?;
    let train = load_image_set(train_dir, cfg.image_size, None)?;
    let val = load_image_set(val_dir, cfg.image_size, Some(&train.classes))?;
    if train.len() < 2 || val.len() == 0 {
        return Err(StageError::InvalidConfig(format!(
            "{} training and {} validation images; need at least 2 and 1",
            train.len(),
            val.len()
        )));
    }
    let spec = cfg.model_spec(IN_CHANNELS, train.classes.len());
    let ad_device = io.device.device.clone().autodiff();
    let mut model = Classifier::new(&spec, &ad_device)?.init_seeded(seed);
    if let Some(path) = &cfg.pretrained {
        model = load_pretrained(model, cfg.architecture, IN_CHANNELS, path)?;
    }
    let trainable_params = model.trainable_params();
    let class_weights = class_weights(&train, cfg.class_weighting);
    let mut adam = AdamConfig::new().with_epsilon(1e-8);
    if cfg.weight_decay > 0.0 {
        adam = adam.with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)));
    }
    let mut optim = adam.init();

    let batches = epoch_batches(train.len(), cfg.batch_size);
    let total_steps = cfg.epochs * batches;
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best: Option<(usize, f32, f32, Vec<u8>)> = None;
    for epoch in 0..cfg.epochs {
        let order = permutation(
            &mut keyed_rng(seed, "shuffle", &[epoch as u64]),
            train.len(),
        );
        let mut loss_sum = 0.0f64;
        let mut epoch_lr = cfg.lr;
        for (b, indices) in order.chunks(cfg.batch_size).take(batches).enumerate() {
            if io.cancel.load(Ordering::Relaxed) {
                return Err(StageError::Cancelled);
            }
            let step = epoch * batches + b;
            let lr = cosine_lr(cfg.lr, step, total_steps);
            if b == 0 {
                epoch_lr = lr;
            }
            let batch = make_batch(
                &train,
                indices,
                Some((&cfg.augment, seed, epoch)),
                &ad_device,
            );
            let mask = dropout_mask(&model, indices.len(), spec.dropout, seed, step, &ad_device);
            let logits = model.forward_masked(batch.images, mask);
            let loss = cross_entropy(logits, batch.labels, indices, &train, &class_weights);
            let loss_value = scalar(loss.clone())?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            loss_sum += f64::from(loss_value);
            io.report(TrainProgress::Batch {
                epoch: epoch + 1,
                epochs: cfg.epochs,
                batch: b + 1,
                batches,
                loss: loss_value,
                lr,
            });
        }
        let eval_model = model.valid();
        let eval = evaluate(
            &eval_model,
            &val,
            &class_weights,
            cfg.batch_size,
            &io.device.device,
        )?;
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: (loss_sum / batches as f64) as f32,
            val_loss: eval.loss,
            val_accuracy: eval.accuracy,
            val_balanced_accuracy: eval.balanced_accuracy,
            lr: epoch_lr,
        };
        io.report(TrainProgress::Epoch {
            epoch: epoch + 1,
            epochs: cfg.epochs,
            train_loss: record.train_loss,
            val_loss: record.val_loss,
            val_balanced_accuracy: record.val_balanced_accuracy,
        });
        let improves = best.as_ref().is_none_or(|(_, bal, loss, _)| {
            is_better(eval.balanced_accuracy, eval.loss, *bal, *loss)
        });
        if improves {
            let bytes = weights_bytes(&eval_model)?;
            best = Some((epoch + 1, eval.balanced_accuracy, eval.loss, bytes));
        }
        history.push(record);
    }
    let Some((best_epoch, best_bal, best_loss, best_weights)) = best else {
        return Err(StageError::InvalidConfig("epochs is 0".to_owned()));
    };
    let weights_path = io.out_dir.join(WEIGHTS_FILE);
    fs::write(&weights_path, best_weights).map_err(|source| StageError::Write {
        path: weights_path.clone(),
        source,
    })?;
    write_json(
        &io.out_dir.join(MODEL_FILE),
        &ModelFile::new(spec, train.classes.clone(), cfg.image_size),
    )?;
    write_json(
        &io.out_dir.join(HISTORY_FILE),
        &History {
            epochs: history,
            best_epoch,
        },
    )?;
    Ok(TrainReport {
        best_epoch,
        best_val_balanced_accuracy: best_bal,
        best_val_loss: best_loss,
        train_images: train.len(),
        val_images: val.len(),
        trainable_params,
        device: io.device.name.clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Higher balanced accuracy wins; on a tie, lower loss (NaN counts as worst).
fn is_better(bal: f32, loss: f32, best_bal: f32, best_loss: f32) -> bool {
    let loss_key = |l: f32| if l.is_nan() { f32::INFINITY } else { l };
    bal > best_bal || (bal == best_bal && loss_key(loss) < loss_key(best_loss))
}

/// Batches per epoch. A last batch of one image is dropped: BatchNorm cannot estimate a
/// variance from a single sample at 1×1 resolution.
fn epoch_batches(images: usize, batch_size: usize) -> usize {
    let full = images / batch_size;
    match images % batch_size {
        0 | 1 => full.max(1),
        _ => full + 1,
    }
}

fn prepare_out_dir(out_dir: &Path) -> Result<(), StageError> {
    fs::create_dir_all(out_dir).map_err(|source| StageError::CreateDir {
        path: out_dir.to_owned(),
        source,
    })?;
    let mut entries = fs::read_dir(out_dir).map_err(|source| StageError::ListDir {
        path: out_dir.to_owned(),
        source,
    })?;
    if entries.next().is_some() {
        return Err(StageError::OutputNotEmpty {
            path: out_dir.to_owned(),
        });
    }
    Ok(())
}

/// Per-class loss weights: n / (k · n_c) with class weighting, else 1. A class absent
/// from training gets weight 0 (it never appears as a target anyway).
fn class_weights(train: &LoadedSet, enabled: bool) -> Vec<f32> {
    let counts = train.class_counts();
    if !enabled {
        return vec![1.0; counts.len()];
    }
    let k = counts.iter().filter(|&&c| c > 0).count() as f32;
    let n = train.len() as f32;
    counts
        .iter()
        .map(|&c| if c == 0 { 0.0 } else { n / (k * c as f32) })
        .collect()
}

/// Weighted mean cross-entropy, as PyTorch's `CrossEntropyLoss(weight=…)`:
/// Σ wᵢ·nllᵢ / Σ wᵢ.
fn cross_entropy(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    indices: &[usize],
    set: &LoadedSet,
    class_weights: &[f32],
) -> Tensor<1> {
    let device = logits.device();
    let n = indices.len();
    let weights: Vec<f32> = indices
        .iter()
        .map(|&i| class_weights[set.labels[i]])
        .collect();
    let total: f32 = weights.iter().sum();
    let weights = Tensor::<1>::from_data(TensorData::new(weights, [n]), &device);
    let nll = log_softmax(logits, 1)
        .gather(1, labels.reshape([n, 1]))
        .reshape([n])
        .neg();
    (nll * weights)
        .sum()
        .div_scalar(total.max(f32::MIN_POSITIVE))
}

/// A dropout mask for the head, [batch, features], already scaled by 1/keep; `None`
/// when dropout is off.
fn dropout_mask(
    model: &Classifier,
    batch: usize,
    prob: f64,
    seed: u64,
    step: usize,
    device: &Device,
) -> Option<Tensor<2>> {
    if prob <= 0.0 {
        return None;
    }
    let features = model.num_features();
    let keep = (1.0 - prob) as f32;
    let mut rng = keyed_rng(seed, "dropout", &[step as u64]);
    let values: Vec<f32> = (0..batch * features)
        .map(|_| {
            if unit(&mut rng) < keep {
                1.0 / keep
            } else {
                0.0
            }
        })
        .collect();
    Some(Tensor::from_data(
        TensorData::new(values, [batch, features]),
        device,
    ))
}

fn scalar(t: Tensor<1>) -> Result<f32, StageError> {
    t.try_into_scalar::<f32>()
        .map_err(|err| StageError::Backend(format!("read a loss from the device: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_starts_at_lr_and_ends_near_zero() {
        let total = 100;
        assert_eq!(cosine_lr(1e-3, 0, total), 1e-3);
        assert!((cosine_lr(1e-3, 50, total) - 0.5e-3).abs() < 1e-12);
        assert!((cosine_lr(1e-3, 25, total) - 1e-3 * 0.5 * (1.0 + 0.5f64.sqrt())).abs() < 1e-12);
        assert!(cosine_lr(1e-3, total - 1, total) > 0.0);
        assert!(cosine_lr(1e-3, total - 1, total) < 1e-6);
        assert_eq!(cosine_lr(1e-3, total, total), 0.0);
        let lrs: Vec<f64> = (0..total).map(|s| cosine_lr(1e-3, s, total)).collect();
        assert!(lrs.windows(2).all(|w| w[1] < w[0]), "strictly decreasing");
    }

    #[test]
    fn best_epoch_prefers_balanced_accuracy_then_loss() {
        assert!(is_better(0.6, 2.0, 0.5, 1.0));
        assert!(!is_better(0.5, 2.0, 0.6, 1.0));
        assert!(is_better(0.5, 0.9, 0.5, 1.0));
        assert!(
            !is_better(0.5, 1.0, 0.5, 1.0),
            "equal: keep the earlier epoch"
        );
        assert!(is_better(0.5, 1.0, 0.5, f32::NAN));
    }

    #[test]
    fn batches_drop_only_a_single_leftover() {
        assert_eq!(epoch_batches(16, 8), 2);
        assert_eq!(epoch_batches(17, 8), 2);
        assert_eq!(epoch_batches(18, 8), 3);
        assert_eq!(epoch_batches(5, 8), 1);
    }
}
