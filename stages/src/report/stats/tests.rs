//! Tests of the report statistics against reference values from scipy, and of the
//! properties no reference can pin (determinism, degenerate cases, the n = 5 floor).
//!
//! Reference numbers were produced once by
//!     ~/.cache/augflow-bench/ref-venv/bin/python bench/reference/stats_reference.py
//! with numpy 2.4.6, scipy 1.17.1, statsmodels 0.15.0; each constant below is named after
//! the line it was copied from.

use crate::report::stats::{
    BootstrapConfig, IntervalMethod, PValueMethod, PermutationConfig, StatsError, WilcoxonMethod,
    accuracy_difference_ci, holm_adjust, mean_ci, paired_differences, paired_mean_difference_ci,
    pearson, sign_flip_test, spearman, statistic_difference_ci, wilcoxon_signed_rank,
};

const N5_ALL_POSITIVE: [f64; 5] = [0.012, 0.020, 0.005, 0.031, 0.017];
const N5_MIXED: [f64; 5] = [0.012, -0.004, 0.005, 0.031, 0.017];
const N8: [f64; 8] = [0.8, -0.3, 1.9, 0.45, -1.1, 2.3, 0.15, 1.25];

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: got {actual}, expected {expected} ± {tolerance}"
    );
}

/// p-values from special functions: agree with scipy to 1e-9 relative.
fn assert_relative(actual: f64, expected: f64, what: &str) {
    assert_close(actual, expected, 1e-9 * expected.abs(), what);
}

// ---- sign-flip permutation test: scipy.stats.permutation_test(permutation_type="samples")

#[test]
fn sign_flip_matches_scipy_exactly() {
    let config = PermutationConfig::default();
    for (d, statistic, p) in [
        (&N5_ALL_POSITIVE[..], 0.017, 0.0625),
        (&N5_MIXED[..], 0.012199999999999999, 0.125),
        (&N8[..], 0.6812499999999999, 0.1484375),
    ] {
        let test = sign_flip_test(d, &config).unwrap();
        assert_eq!(test.method, PValueMethod::Exact);
        assert_eq!(test.n, d.len());
        assert_close(test.statistic, statistic, 1e-15, "mean difference");
        // Exact p-values are k / 2^n: equal, not close.
        assert_eq!(test.p_value, p, "p-value of {d:?}");
    }
}

#[test]
fn sign_flip_monte_carlo_is_seeded_and_agrees_with_enumeration() {
    // 21 differences: one past the default exact limit.
    let d: Vec<f64> = (0..21)
        .map(|i| ((i * 37 % 11) as f64 - 4.0) * 0.1 + 0.03)
        .collect();
    let exact = sign_flip_test(
        &d,
        &PermutationConfig {
            max_exact: 21,
            ..Default::default()
        },
    )
    .unwrap();
    let config = PermutationConfig {
        resamples: 20_000,
        seed: 7,
        ..Default::default()
    };
    let sampled = sign_flip_test(&d, &config).unwrap();
    assert_eq!(
        sampled.method,
        PValueMethod::MonteCarlo { resamples: 20_000 }
    );
    assert_eq!(sampled, sign_flip_test(&d, &config).unwrap());
    let other_seed = sign_flip_test(&d, &PermutationConfig { seed: 8, ..config }).unwrap();
    assert_ne!(sampled.p_value, other_seed.p_value);
    // Monte Carlo standard error of a two-sided p: 2·sqrt(q(1 − q)/B) with q = p/2.
    let q = exact.p_value / 2.0;
    let tolerance = 4.0 * 2.0 * (q * (1.0 - q) / 20_000.0).sqrt();
    assert!(
        exact.p_value > 0.05 && exact.p_value < 0.95,
        "a p-value worth sampling"
    );
    assert_close(
        sampled.p_value,
        exact.p_value,
        tolerance,
        "sampled vs exact p",
    );
}

#[test]
fn sign_flip_monte_carlo_p_is_never_zero() {
    let d = vec![1.0; 25];
    let test = sign_flip_test(
        &d,
        &PermutationConfig {
            resamples: 999,
            ..Default::default()
        },
    );
    assert_eq!(test.unwrap().p_value, 2.0 / 1000.0);
}

// ---- Wilcoxon signed-rank: scipy.stats.wilcoxon

#[test]
fn wilcoxon_exact_matches_scipy() {
    for (d, statistic, p) in [
        (&N5_ALL_POSITIVE[..], 0.0, 0.0625),
        (&N8[..], 7.0, 0.1484375),
    ] {
        for method in [WilcoxonMethod::Exact, WilcoxonMethod::Auto] {
            let test = wilcoxon_signed_rank(d, method).unwrap();
            assert_eq!(test.method, PValueMethod::Exact);
            assert_eq!(
                (test.statistic, test.p_value),
                (statistic, p),
                "{d:?} {method:?}"
            );
        }
    }
}

#[test]
fn wilcoxon_normal_approximation_with_ties_and_zeros_matches_scipy() {
    // scipy: method="asymptotic", correction=False, zero_method="wilcox"
    let d = [
        0.0, 1.0, -1.0, 2.0, 2.0, 3.0, -0.5, 0.0, 4.0, 2.0, 1.0, 5.0, -3.0, 6.0, 0.5,
    ];
    for method in [WilcoxonMethod::NormalApproximation, WilcoxonMethod::Auto] {
        let test = wilcoxon_signed_rank(&d, method).unwrap();
        assert_eq!(test.method, PValueMethod::NormalApproximation);
        assert_eq!(test.n, 13, "zeros dropped");
        assert_eq!(test.statistic, 15.0);
        assert_relative(test.p_value, 0.03251277516362953, "p-value");
    }
}

#[test]
fn wilcoxon_small_sample_with_ties_enumerates_like_scipy_auto() {
    // scipy method="auto" falls back to a permutation test over all 2^8 sign patterns.
    let d = [1.0, 2.0, 2.0, -1.0, 3.0, 0.0, 4.0, -2.0];
    let test = wilcoxon_signed_rank(&d, WilcoxonMethod::Auto).unwrap();
    assert_eq!(test.method, PValueMethod::Exact);
    assert_eq!((test.statistic, test.p_value), (5.5, 0.203125));
}

#[test]
fn wilcoxon_rejects_all_zero_differences() {
    let error = wilcoxon_signed_rank(&[0.0, 0.0], WilcoxonMethod::Auto).unwrap_err();
    assert_eq!(
        error,
        StatsError::AllZero {
            what: "wilcoxon signed-rank test"
        }
    );
}

// ---- the consequence of five repeats

#[test]
fn five_repeats_never_reach_p_below_0_05() {
    let magnitudes = [0.012, 0.020, 0.005, 0.031, 0.017];
    let mut smallest = (f64::INFINITY, f64::INFINITY);
    for pattern in 0..32u32 {
        let d: Vec<f64> = magnitudes
            .iter()
            .enumerate()
            .map(|(i, m)| if pattern & (1 << i) == 0 { *m } else { -m })
            .collect();
        let flip = sign_flip_test(&d, &PermutationConfig::default())
            .unwrap()
            .p_value;
        let rank = wilcoxon_signed_rank(&d, WilcoxonMethod::Auto)
            .unwrap()
            .p_value;
        smallest = (smallest.0.min(flip), smallest.1.min(rank));
    }
    assert_eq!(smallest, (0.0625, 0.0625));
    // Six repeats of one sign can: 2 / 64.
    let six = [0.012, 0.020, 0.005, 0.031, 0.017, 0.009];
    assert_eq!(
        sign_flip_test(&six, &PermutationConfig::default())
            .unwrap()
            .p_value,
        0.03125
    );
    assert_eq!(
        wilcoxon_signed_rank(&six, WilcoxonMethod::Auto)
            .unwrap()
            .p_value,
        0.03125
    );
}

// ---- Holm: statsmodels.stats.multitest.multipletests(method="holm")

#[test]
fn holm_matches_textbook_and_statsmodels() {
    // By hand: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04;
    // the running maximum makes the last 0.06. In input order: 0.03, 0.06, 0.06, 0.02.
    let adjusted = holm_adjust(&[0.01, 0.04, 0.03, 0.005]).unwrap();
    for (actual, expected) in adjusted.iter().zip([0.03, 0.06, 0.06, 0.02]) {
        assert_close(*actual, expected, 1e-15, "textbook holm");
    }
    let adjusted = holm_adjust(&[0.2, 0.01, 0.5, 0.01, 0.04, 0.9]).unwrap();
    for (actual, expected) in adjusted
        .iter()
        .zip([0.6000000000000001, 0.06, 1.0, 0.06, 0.16, 1.0])
    {
        assert_close(*actual, expected, 1e-15, "holm with ties and cap");
    }
}

#[test]
fn holm_rejects_values_that_are_not_p_values() {
    let error = holm_adjust(&[0.01, 1.5]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "compute holm-adjusted p-values: `p_values[1]` is 1.5, not a p-value in [0, 1]"
    );
    assert!(matches!(
        holm_adjust(&[f64::NAN]),
        Err(StatsError::NotProbability { index: 0, .. })
    ));
    assert!(matches!(holm_adjust(&[]), Err(StatsError::Empty { .. })));
}

// ---- correlations: scipy.stats.pearsonr, spearmanr

const FID: [f64; 8] = [12.5, 30.1, 18.7, 45.2, 22.0, 60.3, 15.9, 38.4];
const DELTA_ACCURACY: [f64; 8] = [0.021, 0.004, 0.015, -0.006, 0.018, -0.012, 0.010, 0.001];
const X_TIES: [f64; 10] = [1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0, 6.0, 7.0];
const Y_TIES: [f64; 10] = [2.0, 1.0, 3.0, 3.0, 5.0, 4.0, 6.0, 6.0, 8.0, 7.0];

#[test]
fn correlations_match_scipy() {
    for (actual, r, p, what) in [
        (
            pearson(&FID, &DELTA_ACCURACY),
            -0.9487763745323048,
            0.0003232325755225134,
            "pearson",
        ),
        (
            spearman(&FID, &DELTA_ACCURACY),
            -0.9047619047619048,
            0.002008275505429469,
            "spearman",
        ),
        (
            pearson(&X_TIES, &Y_TIES),
            0.91305728641498,
            0.00022483521855769665,
            "pearson ties",
        ),
        (
            spearman(&X_TIES, &Y_TIES),
            0.93812095999547,
            5.950220707696844e-05,
            "spearman ties",
        ),
    ] {
        let actual = actual.unwrap();
        assert_close(actual.coefficient, r, 1e-14, what);
        assert_relative(actual.p_value, p, what);
    }
}

#[test]
fn correlation_edge_cases() {
    let perfect = spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 100.0]).unwrap();
    assert_eq!(
        (perfect.coefficient, perfect.p_value, perfect.n),
        (1.0, 0.0, 4)
    );
    let constant = pearson(&[0.1, 0.1, 0.1], &[1.0, 2.0, 3.0]).unwrap_err();
    assert_eq!(
        constant,
        StatsError::Constant {
            what: "pearson correlation",
            input: "x",
            value: 0.1
        }
    );
    assert!(matches!(
        pearson(&[1.0, 2.0], &[1.0, 2.0]),
        Err(StatsError::TooFew { got: 2, .. })
    ));
    assert!(matches!(
        spearman(&[1.0, 2.0, 3.0], &[1.0, 2.0]),
        Err(StatsError::LengthMismatch {
            left_len: 3,
            right_len: 2,
            ..
        })
    ));
}

// ---- bootstrap

/// Differences of the scipy bootstrap reference (n = 20).
const D20: [f64; 20] = [
    0.813, -0.327, 1.942, 0.451, -1.108, 2.366, 0.159, 1.257, 0.604, 3.471, -0.218, 0.936, 1.123,
    0.057, 2.709, -0.642, 0.388, 1.615, 0.779, 4.133,
];

#[test]
fn bootstrap_agrees_with_scipy_within_monte_carlo_error() {
    // scipy's endpoints come from 200,000 resamples (spread about 0.2 of ours); ours from
    // 10,000 draws of another random stream, whose endpoints scatter with the standard
    // deviations the reference script measured over 200 seeds of scipy at 10,000 resamples.
    // Four of them: a wrong quantile (e.g. 5% instead of 2.5%) moves an endpoint by ten.
    let cases = [
        (
            IntervalMethod::Percentile,
            (0.47025000000000006, 0.006930999495781351),
            (1.62455, 0.008885428786261668),
        ),
        (
            IntervalMethod::Bca,
            (0.507954061583959, 0.008371721077369868),
            (1.6748999999999998, 0.012435090388012892),
        ),
    ];
    for (method, (low, low_sd), (high, high_sd)) in cases {
        let config = BootstrapConfig {
            method,
            seed: 3,
            ..Default::default()
        };
        let ci = mean_ci(&D20, &config).unwrap();
        assert_close(
            ci.estimate,
            D20.iter().sum::<f64>() / 20.0,
            1e-15,
            "estimate",
        );
        assert_close(ci.lower, low, 4.0 * low_sd, &format!("{method:?} lower"));
        assert_close(ci.upper, high, 4.0 * high_sd, &format!("{method:?} upper"));
    }
}

/// The per-image correctness of the scipy reference: 300 images, accuracies 0.8 and 0.7.
fn correctness() -> (Vec<bool>, Vec<bool>) {
    let a = (0..300).map(|i| (i * 7) % 10 < 8).collect();
    let b = (0..300).map(|i| (i * 3 + 1) % 10 < 7).collect();
    (a, b)
}

#[test]
fn accuracy_difference_agrees_with_scipy_paired_bootstrap() {
    let (a, b) = correctness();
    let ci = accuracy_difference_ci(&a, &b, &BootstrapConfig::default()).unwrap();
    assert_close(ci.estimate, 0.10000000000000009, 1e-15, "estimate");
    assert_close(ci.lower, 0.02, 4.0 * 0.0014678888903892858, "lower");
    assert_close(ci.upper, 0.18, 4.0 * 0.0015460627033685194, "upper");
}

#[test]
fn generic_statistic_resamples_images_jointly_like_the_accuracy_shortcut() {
    let (a, b) = correctness();
    // (predicted, label) per image; the statistic is accuracy.
    let predictions = |correct: &[bool]| -> Vec<(u8, u8)> {
        correct
            .iter()
            .map(|&c| if c { (3, 3) } else { (1, 3) })
            .collect()
    };
    let accuracy = |items: &[(u8, u8)]| {
        items.iter().filter(|(p, l)| p == l).count() as f64 / items.len() as f64
    };
    for method in [IntervalMethod::Percentile, IntervalMethod::Bca] {
        let config = BootstrapConfig {
            resamples: 2_000,
            seed: 11,
            method,
            ..Default::default()
        };
        let generic =
            statistic_difference_ci(&predictions(&a), &predictions(&b), accuracy, &config).unwrap();
        let shortcut = accuracy_difference_ci(&a, &b, &config).unwrap();
        assert_close(generic.lower, shortcut.lower, 1e-12, "lower");
        assert_close(generic.upper, shortcut.upper, 1e-12, "upper");
    }
}

#[test]
fn bootstrap_is_deterministic_per_seed() {
    let config = BootstrapConfig {
        resamples: 2_000,
        seed: 42,
        ..Default::default()
    };
    let first = mean_ci(&D20, &config).unwrap();
    assert_eq!(first, mean_ci(&D20, &config).unwrap());
    let other = mean_ci(&D20, &BootstrapConfig { seed: 43, ..config }).unwrap();
    assert_ne!((first.lower, first.upper), (other.lower, other.upper));
}

#[test]
fn constant_differences_give_a_zero_width_interval_at_the_constant() {
    for method in [IntervalMethod::Percentile, IntervalMethod::Bca] {
        let config = BootstrapConfig {
            resamples: 500,
            method,
            ..Default::default()
        };
        let ci =
            paired_mean_difference_ci(&[0.9, 0.8, 0.85], &[0.88, 0.78, 0.83], &config).unwrap();
        assert_close(ci.lower, 0.02, 1e-15, "lower");
        assert_eq!((ci.lower, ci.upper), (ci.estimate, ci.estimate));
    }
}

#[test]
fn symmetric_differences_give_an_interval_centred_on_the_mean() {
    let d = [-0.03, -0.01, 0.0, 0.02, 0.04, 0.05, 0.07, 0.08, 0.10, 0.12];
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let ci = mean_ci(&d, &BootstrapConfig::default()).unwrap();
    let width = ci.upper - ci.lower;
    assert!(ci.lower < mean && mean < ci.upper);
    assert_close((ci.lower + ci.upper) / 2.0, mean, 0.05 * width, "centre");
    assert_eq!(ci.confidence, 0.95);
}

#[test]
fn bootstrap_rejects_bad_input_naming_it() {
    let error =
        paired_mean_difference_ci(&[0.9, 0.8, 0.7], &[0.8, 0.8, f64::NAN], &Default::default())
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        "compute paired differences: `baseline[2]` is NaN, not a finite number"
    );
    assert!(matches!(
        paired_differences(&[0.9], &[0.8, 0.7]),
        Err(StatsError::LengthMismatch {
            left: "condition",
            right: "baseline",
            ..
        })
    ));
    let bad_confidence = BootstrapConfig {
        confidence: 1.0,
        ..Default::default()
    };
    assert!(matches!(
        mean_ci(&D20, &bad_confidence),
        Err(StatsError::BadParameter {
            name: "confidence",
            ..
        })
    ));
    let bca = BootstrapConfig {
        method: IntervalMethod::Bca,
        ..Default::default()
    };
    assert!(matches!(
        mean_ci(&[1.0], &bca),
        Err(StatsError::TooFew { needed: 2, .. })
    ));
    assert!(matches!(
        mean_ci(&[], &Default::default()),
        Err(StatsError::Empty { .. })
    ));
    let nan_statistic =
        statistic_difference_ci(&[1.0, 2.0], &[1.0, 2.0], |_| f64::NAN, &Default::default());
    assert!(matches!(
        nan_statistic,
        Err(StatsError::StatisticNotFinite { .. })
    ));
}
