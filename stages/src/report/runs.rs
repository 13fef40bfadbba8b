//! What the per-cell comparisons (`study.rs`) and the pooled ones (`pooled.rs`) share: a
//! scored run, the paired difference both give, and the order of amounts.

use std::collections::BTreeMap;

use serde::Serialize;

/// One scored classifier run.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Run {
    pub generator: String,
    pub classifier: String,
    pub amount: String,
    pub repeat: String,
    pub metrics: BTreeMap<String, f64>,
    pub class_f1: BTreeMap<String, f64>,
    /// Per test image, whether the prediction was right (from `predictions.json`, when
    /// the scores folder has one), for per-image paired tests.
    #[serde(skip)]
    pub correct: Option<Vec<bool>>,
}

/// Condition minus baseline for one metric, paired by repeat: in one cell, or pooled over
/// cells (`clusters` set; see [`super::pooled`]).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Delta {
    pub mean: f64,
    /// 95 % percentile interval: a bootstrap over the paired repeats in a cell (`None` with
    /// fewer than 2 pairs), a cluster bootstrap when pooled (`None` when no cell has 2).
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Two-sided sign-flip test: exact over a cell's paired repeats; over (classifier,
    /// repeat) clusters when pooled.
    pub p: Option<f64>,
    /// Holm-adjusted over every cell of this metric, or over the generators (pooled
    /// per-generator rows only).
    pub p_holm: Option<f64>,
    pub pairs: usize,
    /// Pooled only: the (classifier, repeat) clusters the test flips.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clusters: Option<usize>,
}

/// Sorts amounts numerically when they are numbers.
pub fn amount_key(amount: &str) -> (u64, String) {
    (amount.parse().unwrap_or(u64::MAX), amount.to_owned())
}
