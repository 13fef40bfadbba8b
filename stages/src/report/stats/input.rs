//! Input checks shared by the statistics, so every function rejects bad values the same way.

use super::StatsError;

/// Per-repeat differences `condition[i] - baseline[i]` of paired scores.
///
/// Pairs must be aligned by repeat seed; the lengths must match and every score be finite.
pub fn paired_differences(condition: &[f64], baseline: &[f64]) -> Result<Vec<f64>, StatsError> {
    const WHAT: &str = "paired differences";
    check_same_len(
        WHAT,
        ("condition", condition.len()),
        ("baseline", baseline.len()),
    )?;
    check_non_empty(WHAT, "condition", condition.len())?;
    check_finite(WHAT, "condition", condition)?;
    check_finite(WHAT, "baseline", baseline)?;
    Ok(condition.iter().zip(baseline).map(|(c, b)| c - b).collect())
}

pub(super) fn check_non_empty(
    what: &'static str,
    input: &'static str,
    len: usize,
) -> Result<(), StatsError> {
    if len == 0 {
        return Err(StatsError::Empty { what, input });
    }
    Ok(())
}

pub(super) fn check_at_least(
    what: &'static str,
    input: &'static str,
    needed: usize,
    got: usize,
) -> Result<(), StatsError> {
    check_non_empty(what, input, got)?;
    if got < needed {
        return Err(StatsError::TooFew {
            what,
            input,
            needed,
            got,
        });
    }
    Ok(())
}

pub(super) fn check_same_len(
    what: &'static str,
    (left, left_len): (&'static str, usize),
    (right, right_len): (&'static str, usize),
) -> Result<(), StatsError> {
    if left_len != right_len {
        return Err(StatsError::LengthMismatch {
            what,
            left,
            left_len,
            right,
            right_len,
        });
    }
    Ok(())
}

pub(super) fn check_finite(
    what: &'static str,
    input: &'static str,
    values: &[f64],
) -> Result<(), StatsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NotFinite {
            what,
            input,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Checks `values` is non-empty with at least `needed` finite entries.
pub(super) fn check_sample(
    what: &'static str,
    input: &'static str,
    needed: usize,
    values: &[f64],
) -> Result<(), StatsError> {
    check_at_least(what, input, needed, values.len())?;
    check_finite(what, input, values)
}

/// Average ranks (1-based) of `values`, ties sharing the mean of the ranks they span.
pub(crate) fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        start = end;
    }
    ranks
}
