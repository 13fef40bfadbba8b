//! Holm–Bonferroni step-down adjustment: controls the family-wise error rate over all the
//! comparisons of a report without assuming they are independent, and is never less
//! powerful than plain Bonferroni.

use super::StatsError;
use super::input::check_non_empty;

/// Holm-adjusted p-values, in the order of `p_values`.
///
/// Sorting ascending as p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted p₍ᵢ₎ is
/// max over j ≤ i of min(1, (m − j + 1) · p₍ⱼ₎): monotone in the raw p-values, never above
/// one. Reject comparison i at level α when its adjusted p-value is ≤ α. Tied p-values get
/// the same adjusted value.
pub fn holm_adjust(p_values: &[f64]) -> Result<Vec<f64>, StatsError> {
    const WHAT: &str = "holm-adjusted p-values";
    check_non_empty(WHAT, "p_values", p_values.len())?;
    if let Some(index) = p_values.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(StatsError::NotProbability {
            what: WHAT,
            input: "p_values",
            index,
            value: p_values[index],
        });
    }
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (step, &index) in order.iter().enumerate() {
        let scaled = ((m - step) as f64 * p_values[index]).min(1.0);
        running_max = running_max.max(scaled);
        adjusted[index] = running_max;
    }
    Ok(adjusted)
}
