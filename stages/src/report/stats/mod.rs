//! Statistics for the study report: how much synthetic data changes a classifier's score,
//! how sure we can be, and whether image quality predicts the change.
//!
//! A study trains each (generator, classifier, amount) condition and a baseline without
//! synthetic data over the same repeat seeds: repeat `i` of the baseline and repeat `i` of a
//! condition share seed `i`, so scores are *paired* and every comparison here works on the
//! per-repeat differences Δ = condition − baseline (see [`paired_differences`]).
//!
//! - [`bootstrap`]: percentile (default) or BCa bootstrap intervals for the mean Δ over
//!   repeats, and for the difference of a statistic over test images (e.g. accuracy of model
//!   A minus accuracy of model B), resampling image indices jointly for both models.
//! - [`paired`]: the sign-flip permutation test of the mean Δ and the Wilcoxon signed-rank
//!   test, both two-sided.
//! - [`holm`]: Holm–Bonferroni adjusted p-values over all comparisons of a report.
//! - [`correlation`]: Pearson r and Spearman ρ with two-sided p-values (e.g. FID vs Δaccuracy).
//!
//! # Five repeats cannot reach p < 0.05
//! Both paired tests are exact for few repeats, and their p-values are multiples of
//! 1 / 2^n. With n = 5 repeats the smallest two-sided p-value either test can return is
//! 2 / 2^5 = 0.0625 (all five differences of one sign), so *no* comparison can be
//! significant at 0.05 however large its effect, before Holm's correction makes it harder
//! still. The report must say so and lean on the Δ and its interval; n = 6 repeats is the
//! least that can reach 0.05 (2 / 64 ≈ 0.031) for a single comparison.
//!
//! Everything is deterministic: randomised procedures take a seed and use
//! `rand_chacha::ChaCha8Rng`, so a report recomputed from the same scores is identical.

pub mod bootstrap;
pub mod correlation;
pub mod holm;
mod input;
pub mod paired;
mod tails;
#[cfg(test)]
mod tests;

pub use bootstrap::{
    BootstrapConfig, ConfidenceInterval, IntervalMethod, accuracy_difference_ci, mean_ci,
    paired_mean_difference_ci, statistic_difference_ci,
};
pub use correlation::{Correlation, pearson, spearman};
pub use holm::holm_adjust;
pub(crate) use input::average_ranks;
pub use input::paired_differences;
pub use paired::{
    PValueMethod, PairedTest, PermutationConfig, WilcoxonMethod, sign_flip_test,
    wilcoxon_signed_rank,
};

/// Bad input to a statistic. `what` names the computation, `input` the offending argument.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("compute {what}: `{input}` is empty")]
    Empty {
        what: &'static str,
        input: &'static str,
    },
    #[error("compute {what}: `{input}` needs at least {needed} values, got {got}")]
    TooFew {
        what: &'static str,
        input: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("compute {what}: `{left}` has {left_len} values but `{right}` has {right_len}")]
    LengthMismatch {
        what: &'static str,
        left: &'static str,
        left_len: usize,
        right: &'static str,
        right_len: usize,
    },
    #[error("compute {what}: `{input}[{index}]` is {value}, not a finite number")]
    NotFinite {
        what: &'static str,
        input: &'static str,
        index: usize,
        value: f64,
    },
    #[error("compute {what}: `{input}[{index}]` is {value}, not a p-value in [0, 1]")]
    NotProbability {
        what: &'static str,
        input: &'static str,
        index: usize,
        value: f64,
    },
    #[error("compute {what}: every value of `{input}` is {value}, so it has no variance")]
    Constant {
        what: &'static str,
        input: &'static str,
        value: f64,
    },
    #[error("compute {what}: every difference is zero, so nothing is left to rank")]
    AllZero { what: &'static str },
    #[error("compute {what}: `{name}` is {value}, expected {expected}")]
    BadParameter {
        what: &'static str,
        name: &'static str,
        value: f64,
        expected: &'static str,
    },
    #[error("compute {what}: the statistic is {value} on a resample, not a finite number")]
    StatisticNotFinite { what: &'static str, value: f64 },
    #[error("compute {what}: the bootstrap distribution is degenerate ({reason})")]
    Degenerate {
        what: &'static str,
        reason: &'static str,
    },
}
