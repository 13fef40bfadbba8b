//! Kernel Inception Distance (Bińkowski et al. 2018): the unbiased estimate of the squared
//! maximum mean discrepancy with a cubic polynomial kernel, averaged over random subsets,
//! as torch-fidelity's `kid_features_to_metric` computes it.

use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;

use super::features::{feature_matrix, gram, same_dimension};
use crate::StageError;

const METRIC: &str = "KID";

/// How [`kid`] draws its subsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KidConfig {
    /// How many pairs of subsets to average over.
    pub subsets: usize,
    /// Samples per subset, drawn without replacement from each set; capped by the smaller
    /// set (torch-fidelity refuses instead).
    pub subset_size: usize,
    pub seed: u64,
}

impl Default for KidConfig {
    /// torch-fidelity's defaults: 100 subsets of 1,000 samples.
    fn default() -> Self {
        Self {
            subsets: 100,
            subset_size: 1000,
            seed: 0,
        }
    }
}

/// KID over subsets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kid {
    /// The mean of the subsets' MMD² estimates. Slightly negative values are valid: the
    /// estimator is unbiased, so for equal distributions it scatters around zero.
    pub mean: f64,
    /// Their standard deviation (population, as `numpy.std`): the spread over subsets,
    /// not a standard error.
    pub std: f64,
    /// The subset size used, after capping by the smaller set.
    pub subset_size: usize,
}

/// KID between two feature sets (rows = samples): the mean and spread of
/// [`mmd2_unbiased`] over `config.subsets` pairs of random subsets, one subset drawn from
/// each set per pair (seeded ChaCha8, reproducible for a given seed and `rand` version;
/// the draws differ from torch-fidelity's numpy ones, so only the statistics compare).
///
/// Fails with no subsets, a subset size below 2 (after capping), a set with fewer than 2
/// rows, or sets that differ in the number of features.
pub fn kid(a: &[Vec<f32>], b: &[Vec<f32>], config: &KidConfig) -> Result<Kid, StageError> {
    let a = feature_matrix(METRIC, "first", a, 2)?;
    let b = feature_matrix(METRIC, "second", b, 2)?;
    same_dimension(METRIC, &a, &b)?;
    let subset_size = config.subset_size.min(a.nrows()).min(b.nrows());
    if config.subsets == 0 || subset_size < 2 {
        return Err(StageError::InvalidConfig(format!(
            "{METRIC}: needs at least 1 subset of at least 2 samples, got {} of {}",
            config.subsets, config.subset_size
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let estimates: Vec<f64> = (0..config.subsets)
        .map(|_| {
            let a_rows = index::sample(&mut rng, a.nrows(), subset_size).into_vec();
            let b_rows = index::sample(&mut rng, b.nrows(), subset_size).into_vec();
            mmd2(&a.select_rows(&a_rows), &b.select_rows(&b_rows))
        })
        .collect();
    let n = estimates.len() as f64;
    let mean = estimates.iter().sum::<f64>() / n;
    let variance = estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n;
    Ok(Kid {
        mean,
        std: variance.sqrt(),
        subset_size,
    })
}

/// The unbiased estimate of MMD² between the distributions that two feature sets
/// (rows = samples, m and n of them) were drawn from, with the kernel
/// k(x, y) = (x·y / d + 1)³:
///
/// Σ_{i≠j} k(aᵢ, aⱼ) / (m(m−1)) + Σ_{i≠j} k(bᵢ, bⱼ) / (n(n−1)) − 2 Σ_{i,j} k(aᵢ, bⱼ) / (mn).
///
/// For m = n this is torch-fidelity's `mmd2(..., mmd_est="unbiased")`. It can be
/// negative. Fails when a set has fewer than 2 rows or the sets differ in the number of
/// features.
pub fn mmd2_unbiased(a: &[Vec<f32>], b: &[Vec<f32>]) -> Result<f64, StageError> {
    let a = feature_matrix(METRIC, "first", a, 2)?;
    let b = feature_matrix(METRIC, "second", b, 2)?;
    same_dimension(METRIC, &a, &b)?;
    Ok(mmd2(&a, &b))
}

/// [`mmd2_unbiased`] on checked matrices (≥ 2 rows each, same columns).
fn mmd2(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let (m, n) = (a.nrows() as f64, b.nrows() as f64);
    let within_a = kernel_sum(&gram(a, a), a.ncols(), true) / (m * (m - 1.0));
    let within_b = kernel_sum(&gram(b, b), a.ncols(), true) / (n * (n - 1.0));
    let across = kernel_sum(&gram(a, b), a.ncols(), false) / (m * n);
    within_a + within_b - 2.0 * across
}

/// Σ k over the entries of a Gram matrix, the diagonal (a sample with itself) left out
/// when `skip_diagonal`: that is what makes the within-set terms unbiased.
fn kernel_sum(dots: &DMatrix<f64>, dim: usize, skip_diagonal: bool) -> f64 {
    let gamma = 1.0 / dim as f64;
    let mut sum = 0.0;
    for (j, column) in dots.column_iter().enumerate() {
        for (i, dot) in column.iter().enumerate() {
            if !(skip_diagonal && i == j) {
                sum += (dot * gamma + 1.0).powi(3);
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hand_computed_one_dimensional_case() {
        // d = 1: k(x, y) = (xy + 1)³. Within a = {0, 1}: k(0, 1) = 1 twice → 2 / 2 = 1;
        // within b = {0, 2}: likewise 1; across: k = 1, 1, 1, (2 + 1)³ = 27 → 2 · 30 / 4.
        let mmd = mmd2_unbiased(&[vec![0.0], vec![1.0]], &[vec![0.0], vec![2.0]]).unwrap();
        assert!((mmd - (1.0 + 1.0 - 15.0)).abs() < 1e-12, "{mmd}");
    }

    #[test]
    fn rejects_empty_configs_and_mismatched_sets() {
        let a = vec![vec![0.0], vec![1.0], vec![2.0]];
        let none = KidConfig {
            subsets: 0,
            ..KidConfig::default()
        };
        assert!(kid(&a, &a, &none).is_err());
        let tiny = KidConfig {
            subset_size: 1,
            ..KidConfig::default()
        };
        assert!(kid(&a, &a, &tiny).is_err());
        assert!(mmd2_unbiased(&a, &[vec![0.0, 1.0], vec![1.0, 0.0]]).is_err());
    }
}
