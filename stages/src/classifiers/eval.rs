//! Scoring a model in inference mode on an in-memory image set, for model selection.

use burn::tensor::Device;
use burn::tensor::activation::log_softmax;

use super::data::{LoadedSet, make_batch};
use super::model::Classifier;
use crate::StageError;

pub(super) struct Evaluation {
    pub loss: f32,
    pub accuracy: f32,
    pub balanced_accuracy: f32,
}

/// Loss (weighted as in training) and accuracies of `model`, which must be in inference
/// mode, on `set`, unaugmented.
pub(super) fn evaluate(
    model: &Classifier,
    set: &LoadedSet,
    class_weights: &[f32],
    batch_size: usize,
    device: &Device,
) -> Result<Evaluation, StageError> {
    let all: Vec<usize> = (0..set.len()).collect();
    let (mut weighted_loss, mut weight_total) = (0.0f64, 0.0f64);
    let mut preds = Vec::with_capacity(set.len());
    for indices in all.chunks(batch_size) {
        let batch = make_batch(set, indices, None, device);
        let log_probs = log_softmax(model.forward(batch.images), 1);
        let values = log_probs
            .try_into_vec_as::<f32>()
            .map_err(|err| StageError::Backend(format!("read logits from the device: {err}")))?;
        let classes = set.classes.len();
        for (row, &i) in values.chunks_exact(classes).zip(indices) {
            let label = set.labels[i];
            let w = f64::from(class_weights[label]);
            weighted_loss -= w * f64::from(row[label]);
            weight_total += w;
            preds.push(argmax(row));
        }
    }
    let (accuracy, balanced_accuracy) = accuracies(&set.labels, &preds, set.classes.len());
    Ok(Evaluation {
        loss: (weighted_loss / weight_total.max(f64::MIN_POSITIVE)) as f32,
        accuracy,
        balanced_accuracy,
    })
}

pub(super) fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Accuracy and balanced accuracy (mean recall over the classes present in `truth`).
fn accuracies(truth: &[usize], preds: &[usize], classes: usize) -> (f32, f32) {
    let mut per_class = vec![(0usize, 0usize); classes];
    let mut correct = 0;
    for (&t, &p) in truth.iter().zip(preds) {
        per_class[t].1 += 1;
        if t == p {
            per_class[t].0 += 1;
            correct += 1;
        }
    }
    let recalls: Vec<f64> = per_class
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|&(hit, n)| hit as f64 / n as f64)
        .collect();
    let balanced = recalls.iter().sum::<f64>() / recalls.len().max(1) as f64;
    (correct as f32 / truth.len().max(1) as f32, balanced as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_accuracy_ignores_absent_classes() {
        let (acc, bal) = accuracies(&[0, 0, 0, 1], &[0, 0, 0, 0], 3);
        assert_eq!(acc, 0.75);
        assert_eq!(bal, 0.5);
    }
}
