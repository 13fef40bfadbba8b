//! Area under the ROC curve by the Mann–Whitney U statistic.

use crate::report::stats::average_ranks;

/// The probability that a random positive scores above a random negative, ties
/// counting one half: the area under the ROC curve with tied scores joined by a
/// straight segment (the trapezoid rule). `None` without positives or negatives.
///
/// Scores must not be NaN (the caller checks).
pub(super) fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let positives = positive.iter().filter(|&&p| p).count();
    let negatives = positive.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Sum of the positives' ranks (1-based), tied scores sharing the mean of their ranks;
    // every rank is a multiple of 1/2, so the sum is exact.
    let scores: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
    let rank_sum: f64 = average_ranks(&scores)
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(rank, _)| rank)
        .sum();
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_reversed_and_constant_rankers() {
        let positive = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &positive), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &positive), Some(0.0));
        assert_eq!(roc_auc(&[0.5; 4], &positive), Some(0.5));
        assert_eq!(roc_auc(&[0.5; 2], &[true, true]), None);
        assert_eq!(roc_auc(&[0.5; 2], &[false, false]), None);
    }

    #[test]
    fn ties_count_one_half() {
        // Pairs (pos, neg): (0.5, 0.1) win, (0.5, 0.5) tie, (0.9, 0.1) win, (0.9, 0.5)
        // win → (3 + 0.5) / 4.
        let auc = roc_auc(&[0.1, 0.5, 0.5, 0.9], &[false, false, true, true]).unwrap();
        assert!((auc - 0.875).abs() < 1e-12, "{auc}");
    }
}
