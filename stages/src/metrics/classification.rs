//! Multi-class classification metrics from true labels, predictions and scores.

use std::collections::BTreeMap;

use serde::Serialize;

use super::roc_auc::roc_auc;
use crate::StageError;

/// Metrics of one classifier on one labelled set.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ClassificationMetrics {
    /// Class names, in label-index order (the order of the confusion matrix).
    pub classes: Vec<String>,
    pub samples: usize,
    /// Correct predictions / samples.
    pub accuracy: f64,
    /// Mean recall over the classes that have samples (support > 0).
    pub balanced_accuracy: f64,
    /// Mean F1 over the classes that were present or predicted; a class with neither
    /// has no F1 to speak of and is left out.
    pub macro_f1: f64,
    pub per_class: BTreeMap<String, ClassMetrics>,
    /// Classes never predicted: their precision (0/0) is reported as 0.0.
    pub undefined_precision: Vec<String>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// One-vs-rest ROC AUC per class from the scores; `None` for a class without
    /// positives or without negatives. Absent without scores.
    pub roc_auc: Option<BTreeMap<String, Option<f64>>>,
    /// Mean of the defined per-class AUCs.
    pub macro_roc_auc: Option<f64>,
}

/// Metrics of one class.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ClassMetrics {
    /// TP / (TP + FP); 0.0 if the class was never predicted.
    pub precision: f64,
    /// TP / (TP + FN); 0.0 if the class has no samples.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0.0 if both are 0.
    pub f1: f64,
    /// Samples whose true label is this class.
    pub support: usize,
}

/// Computes accuracy, balanced accuracy, macro F1, per-class precision/recall/F1, the
/// confusion matrix and, given `probs` (one score per class per sample, e.g. softmax
/// outputs), one-vs-rest ROC AUC.
pub fn classification_metrics(
    classes: &[String],
    y_true: &[usize],
    y_pred: &[usize],
    probs: Option<&[Vec<f32>]>,
) -> Result<ClassificationMetrics, StageError> {
    check_inputs(classes, y_true, y_pred, probs)?;
    let k = classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in y_true.iter().zip(y_pred) {
        confusion[t][p] += 1;
    }
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let mut per_class = BTreeMap::new();
    let mut undefined_precision = Vec::new();
    let (mut recalls, mut f1s) = (Vec::new(), Vec::new());
    for (c, class) in classes.iter().enumerate() {
        let tp = confusion[c][c];
        let support: usize = confusion[c].iter().sum();
        let predicted: usize = confusion.iter().map(|row| row[c]).sum();
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        if predicted == 0 {
            undefined_precision.push(class.clone());
        }
        if support > 0 {
            recalls.push(recall);
        }
        if support > 0 || predicted > 0 {
            f1s.push(f1);
        }
        per_class.insert(
            class.clone(),
            ClassMetrics {
                precision,
                recall,
                f1,
                support,
            },
        );
    }
    let (roc_auc, macro_roc_auc) = match probs {
        None => (None, None),
        Some(probs) => {
            let per_class: BTreeMap<String, Option<f64>> = classes
                .iter()
                .enumerate()
                .map(|(c, class)| {
                    let scores: Vec<f32> = probs.iter().map(|row| row[c]).collect();
                    let positive: Vec<bool> = y_true.iter().map(|&t| t == c).collect();
                    (class.clone(), roc_auc(&scores, &positive))
                })
                .collect();
            let defined: Vec<f64> = per_class.values().flatten().copied().collect();
            (Some(per_class), mean(&defined))
        }
    };
    Ok(ClassificationMetrics {
        classes: classes.to_vec(),
        samples: y_true.len(),
        accuracy: ratio(correct, y_true.len()),
        balanced_accuracy: mean(&recalls).unwrap_or(0.0),
        macro_f1: mean(&f1s).unwrap_or(0.0),
        per_class,
        undefined_precision,
        confusion,
        roc_auc,
        macro_roc_auc,
    })
}

fn check_inputs(
    classes: &[String],
    y_true: &[usize],
    y_pred: &[usize],
    probs: Option<&[Vec<f32>]>,
) -> Result<(), StageError> {
    let invalid = |msg: String| Err(StageError::InvalidMetricsInput(msg));
    if classes.is_empty() {
        return invalid("there are no classes".to_owned());
    }
    if y_true.is_empty() {
        return invalid("there are no samples".to_owned());
    }
    if y_true.len() != y_pred.len() {
        return invalid(format!(
            "{} true labels but {} predictions",
            y_true.len(),
            y_pred.len()
        ));
    }
    let k = classes.len();
    if let Some((i, &label)) = y_true
        .iter()
        .chain(y_pred)
        .enumerate()
        .find(|&(_, &l)| l >= k)
    {
        let (which, index) = if i < y_true.len() {
            ("true label", i)
        } else {
            ("prediction", i - y_true.len())
        };
        return invalid(format!(
            "{which} {label} of sample {index} is not below the {k} classes"
        ));
    }
    if let Some(probs) = probs {
        if probs.len() != y_true.len() {
            return invalid(format!(
                "{} score rows for {} samples",
                probs.len(),
                y_true.len()
            ));
        }
        if let Some((i, row)) = probs.iter().enumerate().find(|(_, row)| row.len() != k) {
            return invalid(format!(
                "sample {i} has {} scores for {k} classes",
                row.len()
            ));
        }
        if let Some(i) = probs.iter().position(|row| row.iter().any(|s| s.is_nan())) {
            return invalid(format!("sample {i} has a NaN score"));
        }
    }
    Ok(())
}

/// `num / den`, or 0.0 when `den` is 0.
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}
