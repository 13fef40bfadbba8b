//! The study's question, "does this generator help?", answered per generator: every
//! condition run is paired with the baseline run of the same classifier and repeat (same
//! seed), and the differences are pooled over classifiers and amounts, as the paper's
//! claims are ("DreamBooth +0.52 mean Δacc, GAN −1.51").
//!
//! - Mean Δ over all cell × repeat pairs.
//! - A cluster bootstrap interval: each resample redraws the repeats *within* every cell
//!   (classifier × amount), so the interval reflects seed-to-seed spread without mixing
//!   cells of different size.
//! - A paired sign-flip test. Pairs that share a baseline run (the same classifier and
//!   repeat, at different amounts) are correlated, so they flip together: the units are
//!   the (classifier, repeat) clusters, and the statistic is their summed Δ.
//! - Holm over the generators only (one test per generator and metric): the per-cell
//!   comparisons are exploratory.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::runs::{Delta, Run, amount_key};
use super::stats::{BootstrapConfig, PermutationConfig, holm_adjust, mean_ci, sign_flip_test};

/// The metrics pooled per generator.
pub const POOLED_METRICS: [&str; 2] = ["accuracy", "balanced_accuracy"];

/// Resamples of the cluster bootstrap.
const RESAMPLES: usize = 4000;

/// One generator, pooled over classifiers and amounts (`amount: None`), or over
/// classifiers at one amount.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Effect {
    pub generator: String,
    pub amount: Option<String>,
    pub delta: BTreeMap<String, Delta>,
}

/// Per-image paired comparison of a generator's best cell with its baseline.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ImageTest {
    pub generator: String,
    pub classifier: String,
    pub amount: String,
    /// Repeats with predictions on both sides.
    pub repeats: usize,
    pub images: usize,
    /// Mean over images of (cell correct − baseline correct), each averaged over repeats.
    pub delta_accuracy: f64,
    /// 95 % bootstrap interval resampling test images (both sides together).
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Two-sided sign-flip test over images (swapping cell and baseline per image).
    pub p: Option<f64>,
}

#[derive(Serialize, Debug, Clone, PartialEq, Default)]
pub struct Pooled {
    pub per_generator: Vec<Effect>,
    pub per_amount: Vec<Effect>,
    pub per_image: Vec<ImageTest>,
    /// Tests each metric's Holm correction covered (the generators).
    pub holm_over: usize,
}

struct Pair<'a> {
    classifier: &'a str,
    amount: &'a str,
    repeat: &'a str,
    delta: f64,
}

/// Pooled effects of every generator in `runs` against `baseline`.
pub fn pooled(runs: &[Run], baseline: &[Run], seed: u64) -> Pooled {
    pooled_with(runs, baseline, seed, RESAMPLES)
}

/// [`pooled`] with `resamples` bootstrap draws per interval.
pub fn pooled_with(runs: &[Run], baseline: &[Run], seed: u64, resamples: usize) -> Pooled {
    let base: BTreeMap<(&str, &str), &Run> = baseline
        .iter()
        .map(|r| ((r.classifier.as_str(), r.repeat.as_str()), r))
        .collect();
    let mut generators: Vec<&str> = runs.iter().map(|r| r.generator.as_str()).collect();
    generators.sort_unstable();
    generators.dedup();
    let mut out = Pooled::default();
    for (g, generator) in generators.iter().enumerate() {
        let mut delta = BTreeMap::new();
        for (m, metric) in POOLED_METRICS.iter().enumerate() {
            let pairs = pairs_of(runs, &base, generator, None, metric);
            if let Some(d) = pooled_delta(&pairs, mix(seed, g, m, 0), resamples) {
                delta.insert((*metric).to_owned(), d);
            }
        }
        out.per_generator.push(Effect {
            generator: (*generator).to_owned(),
            amount: None,
            delta,
        });
        let mut amounts: Vec<&str> = runs
            .iter()
            .filter(|r| r.generator == *generator)
            .map(|r| r.amount.as_str())
            .collect();
        amounts.sort_by_key(|a| amount_key(a));
        amounts.dedup();
        for (a, amount) in amounts.iter().enumerate() {
            let mut delta = BTreeMap::new();
            for (m, metric) in POOLED_METRICS.iter().enumerate() {
                let pairs = pairs_of(runs, &base, generator, Some(*amount), metric);
                if let Some(d) = pooled_delta(&pairs, mix(seed, g, m, a + 1), resamples) {
                    delta.insert((*metric).to_owned(), d);
                }
            }
            out.per_amount.push(Effect {
                generator: (*generator).to_owned(),
                amount: Some((*amount).to_owned()),
                delta,
            });
        }
        if let Some(test) = best_cell_images(runs, &base, generator, mix(seed, g, 9, 0)) {
            out.per_image.push(test);
        }
    }
    for metric in POOLED_METRICS {
        let indexed: Vec<(usize, f64)> = out
            .per_generator
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i, e.delta.get(metric)?.p?)))
            .collect();
        out.holm_over = out.holm_over.max(indexed.len());
        let ps: Vec<f64> = indexed.iter().map(|(_, p)| *p).collect();
        if let Ok(adjusted) = holm_adjust(&ps) {
            for ((i, _), adj) in indexed.iter().zip(adjusted) {
                if let Some(d) = out.per_generator[*i].delta.get_mut(metric) {
                    d.p_holm = Some(adj);
                }
            }
        }
    }
    out
}

/// The generator's runs (at `amount`, or all) paired with their baselines, for `metric`.
fn pairs_of<'a>(
    runs: &'a [Run],
    base: &BTreeMap<(&str, &str), &Run>,
    generator: &str,
    amount: Option<&str>,
    metric: &str,
) -> Vec<Pair<'a>> {
    runs.iter()
        .filter(|r| r.generator == generator && amount.is_none_or(|a| r.amount == a))
        .filter_map(|r| {
            let b = base.get(&(r.classifier.as_str(), r.repeat.as_str()))?;
            Some(Pair {
                classifier: &r.classifier,
                amount: &r.amount,
                repeat: &r.repeat,
                delta: r.metrics.get(metric)? - b.metrics.get(metric)?,
            })
        })
        .collect()
}

/// A distinct, reproducible seed per (generator, metric, amount) stream.
fn mix(seed: u64, generator: usize, metric: usize, amount: usize) -> u64 {
    seed ^ (((generator as u64) << 40) | ((metric as u64) << 32) | amount as u64)
}

fn pooled_delta(pairs: &[Pair<'_>], seed: u64, resamples: usize) -> Option<Delta> {
    if pairs.is_empty() || pairs.iter().any(|p| !p.delta.is_finite()) {
        return None;
    }
    let n = pairs.len();
    let mean = pairs.iter().map(|p| p.delta).sum::<f64>() / n as f64;
    let mut cells: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    let mut clusters: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for p in pairs {
        cells
            .entry((p.classifier, p.amount))
            .or_default()
            .push(p.delta);
        *clusters.entry((p.classifier, p.repeat)).or_default() += p.delta;
    }
    let (ci_low, ci_high) = match cluster_bootstrap(&cells, n, seed, resamples) {
        Some((low, high)) => (Some(low), Some(high)),
        None => (None, None),
    };
    let sums: Vec<f64> = clusters.values().copied().collect();
    let p = sign_flip_test(&sums, &PermutationConfig::seeded(seed))
        .ok()
        .map(|t| t.p_value);
    Some(Delta {
        mean,
        ci_low,
        ci_high,
        p,
        p_holm: None,
        pairs: n,
        clusters: Some(sums.len()),
    })
}

/// Percentile interval of the pooled mean, resampling repeats within each cell.
fn cluster_bootstrap(
    cells: &BTreeMap<(&str, &str), Vec<f64>>,
    n: usize,
    seed: u64,
    resamples: usize,
) -> Option<(f64, f64)> {
    if resamples == 0 || cells.values().all(|c| c.len() < 2) {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let total: f64 = cells
                .values()
                .map(|cell| {
                    (0..cell.len())
                        .map(|_| cell[rng.random_range(0..cell.len())])
                        .sum::<f64>()
                })
                .sum();
            total / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    Some((quantile(&means, 0.025), quantile(&means, 0.975)))
}

/// Linear interpolation between order statistics (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64)
}

/// The generator's cell with the highest mean Δaccuracy, compared image by image with
/// its classifier's baseline over the repeats both sides have predictions for.
fn best_cell_images(
    runs: &[Run],
    base: &BTreeMap<(&str, &str), &Run>,
    generator: &str,
    seed: u64,
) -> Option<ImageTest> {
    let mut cells: BTreeMap<(&str, &str), Vec<(&Run, &Run)>> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.generator == generator) {
        if let Some(b) = base.get(&(run.classifier.as_str(), run.repeat.as_str())) {
            cells
                .entry((run.classifier.as_str(), run.amount.as_str()))
                .or_default()
                .push((run, b));
        }
    }
    let cell_mean = |pairs: &[(&Run, &Run)]| {
        pairs
            .iter()
            .map(|(r, b)| r.metrics["accuracy"] - b.metrics["accuracy"])
            .sum::<f64>()
            / pairs.len() as f64
    };
    let ((classifier, amount), pairs) = cells
        .iter()
        .max_by(|a, b| cell_mean(a.1).total_cmp(&cell_mean(b.1)))?;
    let with_predictions: Vec<(&[bool], &[bool])> = pairs
        .iter()
        .filter_map(|(r, b)| Some((r.correct.as_deref()?, b.correct.as_deref()?)))
        .filter(|(r, b)| r.len() == b.len() && !r.is_empty())
        .collect();
    let images = with_predictions.first()?.0.len();
    if with_predictions.iter().any(|(r, _)| r.len() != images) {
        return None;
    }
    let repeats = with_predictions.len() as f64;
    let per_image: Vec<f64> = (0..images)
        .map(|i| {
            with_predictions
                .iter()
                .map(|(r, b)| f64::from(u8::from(r[i])) - f64::from(u8::from(b[i])))
                .sum::<f64>()
                / repeats
        })
        .collect();
    let ci = mean_ci(&per_image, &BootstrapConfig::seeded(seed)).ok();
    let p = sign_flip_test(&per_image, &PermutationConfig::seeded(seed))
        .ok()
        .map(|t| t.p_value);
    Some(ImageTest {
        generator: generator.to_owned(),
        classifier: (*classifier).to_owned(),
        amount: (*amount).to_owned(),
        repeats: with_predictions.len(),
        images,
        delta_accuracy: per_image.iter().sum::<f64>() / images as f64,
        ci_low: ci.map(|c| c.lower),
        ci_high: ci.map(|c| c.upper),
        p,
    })
}

#[cfg(test)]
#[path = "pooled_tests.rs"]
mod tests;
