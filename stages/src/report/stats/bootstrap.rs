//! Bootstrap confidence intervals: for the mean of paired differences over repeats (resample
//! the pairs), and for the difference of a statistic over test images between two models
//! scored on the same images (resample image indices once, for both models, so the
//! intervals keep the images' pairing).
//!
//! [`IntervalMethod::Percentile`] (the default) takes the α/2 and 1 − α/2 quantiles of the
//! bootstrap distribution (linear interpolation, as numpy and `scipy.stats.bootstrap`);
//! [`IntervalMethod::Bca`] corrects them for bias and skew (Efron's BCa, as scipy's default),
//! at the price of n extra evaluations of the statistic for the jackknife.
//!
//! With 5 repeats the bootstrap of the mean Δ has at most 126 distinct resamples and
//! under-covers (it ignores the t distribution's heavier tails): read it as a description of
//! the spread, not as a guarantee.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::StatsError;
use super::input::{check_at_least, check_same_len, check_sample, paired_differences};
use super::tails::{normal_cdf, normal_quantile};

/// Which quantiles of the bootstrap distribution bound the interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntervalMethod {
    #[default]
    Percentile,
    /// Bias-corrected and accelerated; needs at least 2 observations.
    Bca,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapConfig {
    pub resamples: usize,
    /// Two-sided coverage, in (0, 1).
    pub confidence: f64,
    pub seed: u64,
    pub method: IntervalMethod,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            resamples: 10_000,
            confidence: 0.95,
            seed: 0,
            method: IntervalMethod::Percentile,
        }
    }
}

impl BootstrapConfig {
    /// The defaults with resamples drawn from `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }
}

/// A point estimate and its two-sided bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfidenceInterval {
    /// The statistic on the original data.
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
}

/// Interval for the mean of `differences` (e.g. from [`super::paired_differences`]).
pub fn mean_ci(
    differences: &[f64],
    config: &BootstrapConfig,
) -> Result<ConfidenceInterval, StatsError> {
    const WHAT: &str = "bootstrap interval of the mean";
    check_sample(WHAT, "differences", min_observations(config), differences)?;
    let mean = |indices: &[usize]| {
        indices.iter().map(|&i| differences[i]).sum::<f64>() / indices.len() as f64
    };
    bootstrap_interval(WHAT, differences.len(), mean, config)
}

/// Interval for the mean of `condition[i] − baseline[i]`, pairs resampled together.
pub fn paired_mean_difference_ci(
    condition: &[f64],
    baseline: &[f64],
    config: &BootstrapConfig,
) -> Result<ConfidenceInterval, StatsError> {
    mean_ci(&paired_differences(condition, baseline)?, config)
}

/// Interval for `statistic(a) − statistic(b)`, where `a[i]` and `b[i]` are two models'
/// results on test image `i`; each resample draws image indices once and uses them for both.
///
/// `statistic` sees the resampled items in draw order and must return a finite number. It
/// runs twice per resample, and with BCa twice more per image (jackknife): for a statistic
/// linear in the images, O(resamples·n + n²) work in all.
pub fn statistic_difference_ci<T: Clone>(
    a: &[T],
    b: &[T],
    statistic: impl Fn(&[T]) -> f64,
    config: &BootstrapConfig,
) -> Result<ConfidenceInterval, StatsError> {
    const WHAT: &str = "bootstrap interval of a statistic difference";
    check_same_len(WHAT, ("a", a.len()), ("b", b.len()))?;
    check_at_least(WHAT, "a", min_observations(config), a.len())?;
    let mut a_sample = Vec::with_capacity(a.len());
    let mut b_sample = Vec::with_capacity(b.len());
    let difference = |indices: &[usize]| {
        a_sample.clear();
        b_sample.clear();
        a_sample.extend(indices.iter().map(|&i| a[i].clone()));
        b_sample.extend(indices.iter().map(|&i| b[i].clone()));
        statistic(&a_sample) - statistic(&b_sample)
    };
    bootstrap_interval(WHAT, a.len(), difference, config)
}

/// Interval for accuracy(a) − accuracy(b) from per-image correctness of two models.
pub fn accuracy_difference_ci(
    a_correct: &[bool],
    b_correct: &[bool],
    config: &BootstrapConfig,
) -> Result<ConfidenceInterval, StatsError> {
    const WHAT: &str = "bootstrap interval of an accuracy difference";
    check_same_len(
        WHAT,
        ("a_correct", a_correct.len()),
        ("b_correct", b_correct.len()),
    )?;
    check_at_least(WHAT, "a_correct", min_observations(config), a_correct.len())?;
    let difference = |indices: &[usize]| {
        let net: i64 = indices
            .iter()
            .map(|&i| i64::from(a_correct[i]) - i64::from(b_correct[i]))
            .sum();
        net as f64 / indices.len() as f64
    };
    bootstrap_interval(WHAT, a_correct.len(), difference, config)
}

fn min_observations(config: &BootstrapConfig) -> usize {
    match config.method {
        IntervalMethod::Percentile => 1,
        IntervalMethod::Bca => 2,
    }
}

/// Resamples `0..n` with replacement; `statistic` maps a multiset of indices to a number.
fn bootstrap_interval(
    what: &'static str,
    n: usize,
    mut statistic: impl FnMut(&[usize]) -> f64,
    config: &BootstrapConfig,
) -> Result<ConfidenceInterval, StatsError> {
    check_config(what, config)?;
    let all: Vec<usize> = (0..n).collect();
    let estimate = finite(what, statistic(&all))?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut indices = vec![0; n];
    let mut replicates = Vec::with_capacity(config.resamples);
    for _ in 0..config.resamples {
        for index in indices.iter_mut() {
            *index = rng.random_range(0..n);
        }
        replicates.push(finite(what, statistic(&indices))?);
    }
    replicates.sort_by(f64::total_cmp);
    let (first, last) = (replicates[0], replicates[replicates.len() - 1]);
    if first == last {
        // Every resample agrees (e.g. constant differences): the interval is that value, and
        // BCa's corrections are undefined.
        let confidence = config.confidence;
        return Ok(ConfidenceInterval {
            estimate,
            lower: first,
            upper: first,
            confidence,
        });
    }
    let alpha = (1.0 - config.confidence) / 2.0;
    let (low_level, high_level) = match config.method {
        IntervalMethod::Percentile => (alpha, 1.0 - alpha),
        IntervalMethod::Bca => {
            let bias = bias_correction(what, &replicates, estimate)?;
            let acceleration = acceleration(what, &all, &mut statistic)?;
            let level = |z_alpha: f64| {
                let shifted = bias + z_alpha;
                normal_cdf(bias + shifted / (1.0 - acceleration * shifted))
            };
            (
                level(normal_quantile(alpha)),
                level(normal_quantile(1.0 - alpha)),
            )
        }
    };
    Ok(ConfidenceInterval {
        estimate,
        lower: quantile(&replicates, low_level),
        upper: quantile(&replicates, high_level),
        confidence: config.confidence,
    })
}

fn check_config(what: &'static str, config: &BootstrapConfig) -> Result<(), StatsError> {
    if config.resamples == 0 {
        return Err(StatsError::BadParameter {
            what,
            name: "resamples",
            value: 0.0,
            expected: "at least 1",
        });
    }
    if !(config.confidence > 0.0 && config.confidence < 1.0) {
        return Err(StatsError::BadParameter {
            what,
            name: "confidence",
            value: config.confidence,
            expected: "a number strictly between 0 and 1",
        });
    }
    Ok(())
}

fn finite(what: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::StatisticNotFinite { what, value })
    }
}

/// BCa's z₀: the normal quantile of the share of replicates below the estimate, ties
/// counting half (as scipy).
///
/// Unlike scipy, replicates within rounding of the estimate count as ties: a discrete
/// statistic such as an accuracy difference often equals the estimate on a resample, and
/// whether rounding lands it a hair above or below would otherwise shift the interval.
fn bias_correction(
    what: &'static str,
    sorted_replicates: &[f64],
    estimate: f64,
) -> Result<f64, StatsError> {
    let spread = sorted_replicates[sorted_replicates.len() - 1] - sorted_replicates[0];
    let tolerance = 1e-9 * spread;
    let below = sorted_replicates.partition_point(|&r| r < estimate - tolerance);
    let at_or_below = sorted_replicates.partition_point(|&r| r <= estimate + tolerance);
    let share = (below + at_or_below) as f64 / (2 * sorted_replicates.len()) as f64;
    if share <= 0.0 || share >= 1.0 {
        return Err(StatsError::Degenerate {
            what,
            reason: "every resample lies on one side of the estimate, so BCa's bias is infinite",
        });
    }
    Ok(normal_quantile(share))
}

/// BCa's acceleration from the jackknife (leave one observation out).
fn acceleration(
    what: &'static str,
    all: &[usize],
    statistic: &mut impl FnMut(&[usize]) -> f64,
) -> Result<f64, StatsError> {
    let mut leave_one_out = Vec::with_capacity(all.len());
    let mut rest = Vec::with_capacity(all.len() - 1);
    for left_out in all {
        rest.clear();
        rest.extend(all.iter().filter(|i| *i != left_out));
        leave_one_out.push(finite(what, statistic(&rest))?);
    }
    let mean = leave_one_out.iter().sum::<f64>() / leave_one_out.len() as f64;
    let (cubes, squares) = leave_one_out
        .iter()
        .fold((0.0, 0.0), |(cubes, squares), theta| {
            let u = mean - theta;
            (cubes + u * u * u, squares + u * u)
        });
    if squares == 0.0 {
        return Err(StatsError::Degenerate {
            what,
            reason: "leaving out any one observation gives the same value, so BCa's acceleration is undefined",
        });
    }
    Ok(cubes / (6.0 * squares.powf(1.5)))
}

/// The `level` quantile of sorted values, interpolating linearly (numpy's default).
fn quantile(sorted: &[f64], level: f64) -> f64 {
    let position = (sorted.len() - 1) as f64 * level.clamp(0.0, 1.0);
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (position - below as f64) * (sorted[above] - sorted[below])
}
