//! Pearson and Spearman correlation with two-sided p-values, e.g. between a generator's FID
//! and the Δaccuracy its synthetic data brings.
//!
//! Both p-values use Student's t with n − 2 degrees of freedom,
//! t = r·√((n − 2) / (1 − r²)). For Pearson this is the exact null distribution under
//! bivariate normality (what `scipy.stats.pearsonr` computes through an equivalent beta
//! distribution); for Spearman it is the usual approximation (as `scipy.stats.spearmanr`).

use super::StatsError;
use super::input::{average_ranks, check_same_len, check_sample};
use super::tails::student_t_two_sided_p;

/// A correlation coefficient and its two-sided p-value against "no correlation".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correlation {
    /// r or ρ, in [-1, 1].
    pub coefficient: f64,
    pub p_value: f64,
    /// Number of (x, y) pairs.
    pub n: usize,
}

/// Pearson's r of paired samples `x` and `y` (at least 3 pairs, neither constant).
pub fn pearson(x: &[f64], y: &[f64]) -> Result<Correlation, StatsError> {
    check_pairs("pearson correlation", x, y)?;
    correlation_from(x, y, "pearson correlation")
}

/// Spearman's ρ: Pearson's r of the ranks, ties sharing their average rank.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<Correlation, StatsError> {
    const WHAT: &str = "spearman correlation";
    check_pairs(WHAT, x, y)?;
    correlation_from(&average_ranks(x), &average_ranks(y), WHAT)
}

fn check_pairs(what: &'static str, x: &[f64], y: &[f64]) -> Result<(), StatsError> {
    check_same_len(what, ("x", x.len()), ("y", y.len()))?;
    // n − 2 degrees of freedom must be at least one.
    check_sample(what, "x", 3, x)?;
    check_sample(what, "y", 3, y)
}

fn correlation_from(x: &[f64], y: &[f64], what: &'static str) -> Result<Correlation, StatsError> {
    // Tested on the values, not on the deviations, which rounding can leave a hair off zero.
    check_not_constant(what, "x", x)?;
    check_not_constant(what, "y", y)?;
    let n = x.len();
    let x_dev = deviations(x);
    let y_dev = deviations(y);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
    // One square root of the product, so identical inputs give exactly 1 (√(a·a) = a in
    // IEEE arithmetic); rounding can still push |r| a hair past 1.
    let r =
        (dot(&x_dev, &y_dev) / (dot(&x_dev, &x_dev) * dot(&y_dev, &y_dev)).sqrt()).clamp(-1.0, 1.0);
    let dof = (n - 2) as f64;
    let p_value = if r.abs() == 1.0 {
        0.0
    } else {
        student_t_two_sided_p(r * (dof / (1.0 - r * r)).sqrt(), dof)
    };
    Ok(Correlation {
        coefficient: r,
        p_value,
        n,
    })
}

fn check_not_constant(
    what: &'static str,
    input: &'static str,
    values: &[f64],
) -> Result<(), StatsError> {
    if values.iter().all(|v| *v == values[0]) {
        return Err(StatsError::Constant {
            what,
            input,
            value: values[0],
        });
    }
    Ok(())
}

fn deviations(values: &[f64]) -> Vec<f64> {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|v| v - mean).collect()
}
