//! Paired two-sided tests of "synthetic data changes nothing" on per-repeat differences
//! Δ = condition − baseline (see [`super::paired_differences`]).
//!
//! - [`sign_flip_test`]: the permutation test of the mean Δ. Under the null each Δᵢ is as
//!   likely to have had the opposite sign, so the null distribution is the mean over all 2ⁿ
//!   sign patterns: enumerated exactly for n ≤ [`PermutationConfig::max_exact`] (default 20),
//!   drawn at random (seeded) above. Matches `scipy.stats.permutation_test(...,
//!   permutation_type="samples")` with `statistic = mean(x − y)`: exactly when enumerated,
//!   within Monte Carlo error when sampled (the random streams differ).
//! - [`wilcoxon_signed_rank`]: ranks |Δ| instead of using it, so one wild repeat cannot
//!   dominate. Zeros are dropped before ranking (scipy's default `zero_method="wilcox"`);
//!   tied |Δ| share their average rank.
//!
//! Two-sided p-values are computed as scipy does: twice the smaller one-sided tail, capped
//! at 1. With n = 5 repeats the smallest possible p-value of either test is 2/32 = 0.0625
//! (see the [module docs](super)).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::StatsError;
use super::input::{average_ranks, check_sample};
use super::tails::normal_sf;

/// How a [`sign_flip_test`] enumerates or samples the sign patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermutationConfig {
    /// Up to this many differences, all 2ⁿ sign patterns are enumerated (2²⁰ ≈ 10⁶).
    pub max_exact: usize,
    /// Random sign patterns drawn above `max_exact`.
    pub resamples: usize,
    pub seed: u64,
}

impl Default for PermutationConfig {
    fn default() -> Self {
        // scipy's default number of resamples.
        Self {
            max_exact: 20,
            resamples: 9_999,
            seed: 0,
        }
    }
}

impl PermutationConfig {
    /// The defaults with resamples drawn from `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }
}

/// How a p-value was obtained, for the report to state next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PValueMethod {
    /// From the full null distribution (all sign patterns, or their exact count).
    Exact,
    /// From `resamples` random sign patterns; p = (hits + 1) / (resamples + 1), so never 0.
    MonteCarlo { resamples: usize },
    /// Wilcoxon's normal approximation with tie correction and no continuity correction.
    NormalApproximation,
}

/// The result of a paired test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedTest {
    /// Sign-flip: the mean difference. Wilcoxon: min(R⁺, R⁻), as scipy reports it.
    pub statistic: f64,
    pub p_value: f64,
    /// Differences the test used (Wilcoxon: the non-zero ones).
    pub n: usize,
    pub method: PValueMethod,
}

/// Which null distribution [`wilcoxon_signed_rank`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WilcoxonMethod {
    /// As scipy's `method="auto"`: exact without ties or zeros for n ≤ 50; exact (by
    /// enumeration, as scipy's permutation fallback) with ties or zeros for n ≤ 13; the
    /// normal approximation otherwise.
    #[default]
    Auto,
    /// The exact distribution of R⁺ given the ranks (with ties, the midranks). Without ties
    /// or zeros this is scipy's `method="exact"`; with them it is the conditional
    /// permutation distribution, which scipy's exact method only approximates by rounding.
    /// Costs O(n³): allowed up to [`MAX_EXACT_WILCOXON`] differences.
    Exact,
    /// scipy's `method="asymptotic", correction=False`.
    NormalApproximation,
}

/// The most differences [`WilcoxonMethod::Exact`] accepts.
pub const MAX_EXACT_WILCOXON: usize = 200;

/// Two-sided sign-flip permutation test of the mean of `differences`.
pub fn sign_flip_test(
    differences: &[f64],
    config: &PermutationConfig,
) -> Result<PairedTest, StatsError> {
    const WHAT: &str = "sign-flip test";
    check_sample(WHAT, "differences", 1, differences)?;
    let n = differences.len();
    let observed: f64 = differences.iter().sum();
    // Sign patterns that tie with the observed sum in exact arithmetic can differ from it by
    // rounding; scipy treats values within 100 ε of the observation as equal, and so do we,
    // scaled by Σ|Δ| (the size of the rounding) rather than |ΣΔ|.
    let tolerance = 100.0 * f64::EPSILON * differences.iter().map(|d| d.abs()).sum::<f64>();
    let mut tails = TailCounts::new(observed, tolerance);
    let method = if n <= config.max_exact {
        count_all_patterns(differences, &mut tails);
        PValueMethod::Exact
    } else {
        if config.resamples == 0 {
            return Err(StatsError::BadParameter {
                what: WHAT,
                name: "resamples",
                value: 0.0,
                expected: "at least 1",
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        for _ in 0..config.resamples {
            let sum = differences
                .iter()
                .map(|&d| if rng.random::<bool>() { d } else { -d })
                .sum();
            tails.add(sum);
        }
        PValueMethod::MonteCarlo {
            resamples: config.resamples,
        }
    };
    let adjustment = u64::from(method != PValueMethod::Exact);
    Ok(PairedTest {
        statistic: observed / n as f64,
        p_value: tails.two_sided_p(adjustment),
        n,
        method,
    })
}

/// Two-sided Wilcoxon signed-rank test of `differences` (zeros dropped).
pub fn wilcoxon_signed_rank(
    differences: &[f64],
    method: WilcoxonMethod,
) -> Result<PairedTest, StatsError> {
    const WHAT: &str = "wilcoxon signed-rank test";
    check_sample(WHAT, "differences", 1, differences)?;
    let non_zero: Vec<f64> = differences.iter().copied().filter(|d| *d != 0.0).collect();
    if non_zero.is_empty() {
        return Err(StatsError::AllZero { what: WHAT });
    }
    let n = non_zero.len();
    let ranks = average_ranks(&non_zero.iter().map(|d| d.abs()).collect::<Vec<_>>());
    let r_plus: f64 = ranks
        .iter()
        .zip(&non_zero)
        .filter(|(_, d)| **d > 0.0)
        .map(|(r, _)| r)
        .sum();
    let r_total = (n * (n + 1)) as f64 / 2.0;
    let tie_sizes = tie_sizes(&ranks);
    let has_ties_or_zeros = !tie_sizes.is_empty() || n < differences.len();
    let exact = match method {
        WilcoxonMethod::Auto if has_ties_or_zeros => differences.len() <= 13,
        WilcoxonMethod::Auto => n <= 50,
        WilcoxonMethod::Exact => {
            if n > MAX_EXACT_WILCOXON {
                return Err(StatsError::BadParameter {
                    what: WHAT,
                    name: "number of non-zero differences",
                    value: n as f64,
                    expected: "at most 200 for the exact method",
                });
            }
            true
        }
        WilcoxonMethod::NormalApproximation => false,
    };
    let (p_value, method) = if exact {
        (exact_signed_rank_p(&ranks, r_plus), PValueMethod::Exact)
    } else {
        let nf = n as f64;
        let tie_term: f64 = tie_sizes
            .iter()
            .map(|&t| (t * t * t - t) as f64)
            .sum::<f64>()
            / 48.0;
        let variance = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term;
        let z = (r_plus - r_total / 2.0) / variance.sqrt();
        (
            (2.0 * normal_sf(z.abs())).min(1.0),
            PValueMethod::NormalApproximation,
        )
    };
    Ok(PairedTest {
        statistic: r_plus.min(r_total - r_plus),
        p_value,
        n,
        method,
    })
}

/// Counts of null statistics at or below, and at or above, the observed one.
struct TailCounts {
    observed: f64,
    tolerance: f64,
    at_most: u64,
    at_least: u64,
    total: u64,
}

impl TailCounts {
    fn new(observed: f64, tolerance: f64) -> Self {
        Self {
            observed,
            tolerance,
            at_most: 0,
            at_least: 0,
            total: 0,
        }
    }

    fn add(&mut self, value: f64) {
        self.at_most += u64::from(value <= self.observed + self.tolerance);
        self.at_least += u64::from(value >= self.observed - self.tolerance);
        self.total += 1;
    }

    /// Twice the smaller tail, capped at 1; `adjustment` counts the observation itself into
    /// a random sample of the null, so a Monte Carlo p-value is never 0.
    fn two_sided_p(&self, adjustment: u64) -> f64 {
        let tail = self.at_most.min(self.at_least) + adjustment;
        (2.0 * tail as f64 / (self.total + adjustment) as f64).min(1.0)
    }
}

/// Adds the signed sum of every sign pattern. Meets in the middle: the 2ⁿ sums are the
/// pairwise sums of two halves' 2^(n/2) partial sums, one addition each.
fn count_all_patterns(differences: &[f64], tails: &mut TailCounts) {
    let (left, right) = differences.split_at(differences.len() / 2);
    let right_sums = signed_sums(right);
    for a in signed_sums(left) {
        for b in &right_sums {
            tails.add(a + b);
        }
    }
}

fn signed_sums(values: &[f64]) -> Vec<f64> {
    values.iter().fold(vec![0.0], |sums, &v| {
        sums.iter().flat_map(|s| [s + v, s - v]).collect()
    })
}

/// Exact two-sided p of R⁺ given these ranks: the distribution of Σ 2rᵢ·[sign i positive]
/// over all equally likely sign patterns, by dynamic programming over the doubled ranks
/// (integers even with midranks).
fn exact_signed_rank_p(ranks: &[f64], r_plus: f64) -> f64 {
    let weights: Vec<usize> = ranks.iter().map(|r| (2.0 * r).round() as usize).collect();
    let max_sum: usize = weights.iter().sum();
    let mut probability = vec![0.0; max_sum + 1];
    probability[0] = 1.0;
    for &w in &weights {
        // Backwards so each step reads the previous step's values below k.
        for k in (0..=max_sum).rev() {
            let with_positive = if k >= w { probability[k - w] } else { 0.0 };
            probability[k] = 0.5 * (probability[k] + with_positive);
        }
    }
    let observed = (2.0 * r_plus).round() as usize;
    let at_most: f64 = probability[..=observed].iter().sum();
    let at_least: f64 = probability[observed..].iter().sum();
    (2.0 * at_most.min(at_least)).min(1.0)
}

/// Sizes of the groups of tied ranks (groups of one left out).
fn tie_sizes(ranks: &[f64]) -> Vec<u64> {
    let mut sorted = ranks.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .chunk_by(|a, b| a == b)
        .map(|group| group.len() as u64)
        .filter(|&size| size > 1)
        .collect()
}
