//! Which part each patient goes to: pure functions over per-class patient lists.

use std::collections::BTreeMap;

use super::shuffle::shuffle;
use crate::data::part::PARTS;

/// A part of the split; the order is train < val < test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Part {
    Train,
    Val,
    Test,
}

impl Part {
    pub(super) const ALL: [Part; 3] = [Part::Train, Part::Val, Part::Test];

    pub(super) fn name(self) -> &'static str {
        PARTS[self as usize]
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|part| part.name() == name)
    }
}

/// Patient ids of each class (by class index), sorted; a patient appears under one class.
pub(super) type Groups = Vec<Vec<String>>;

/// Per class: shuffle the patients, then cut them into train/val/test by
/// largest-remainder apportionment of the fractions.
pub(super) fn by_fractions(
    groups: &Groups,
    classes: &[String],
    fractions: [f64; 3],
    seed: u64,
) -> BTreeMap<String, Part> {
    let mut parts = BTreeMap::new();
    for (patients, class) in groups.iter().zip(classes) {
        let mut order = patients.clone();
        shuffle(&mut order, seed, "split", class);
        let counts = apportion(order.len(), &fractions);
        let mut order = order.into_iter();
        for (part, count) in Part::ALL.into_iter().zip(counts) {
            parts.extend(order.by_ref().take(count).map(|id| (id, part)));
        }
    }
    parts
}

/// Per class: shuffle the patients and deal them round-robin into `k` folds (the deal
/// goes on across classes, so fold sizes differ by at most one patient overall); fold
/// `fold` is test, and `val` of each class's remaining patients are val.
pub(super) fn by_kfold(
    groups: &Groups,
    classes: &[String],
    k: u32,
    fold: u32,
    val: f64,
    seed: u64,
) -> BTreeMap<String, Part> {
    let k = k as usize;
    let mut parts = BTreeMap::new();
    let mut dealt = 0usize;
    for (patients, class) in groups.iter().zip(classes) {
        let mut order = patients.clone();
        shuffle(&mut order, seed, "kfold", class);
        if !order.is_empty() && order.len() < k {
            tracing::warn!(
                class,
                patients = order.len(),
                k,
                "fewer patients than folds: some folds lack the class"
            );
        }
        let mut rest = Vec::new();
        for (i, id) in order.into_iter().enumerate() {
            if (dealt + i) % k == fold as usize {
                parts.insert(id, Part::Test);
            } else {
                rest.push(id);
            }
        }
        dealt += patients.len();
        let counts = apportion(rest.len(), &[1.0 - val, val]);
        for (i, id) in rest.into_iter().enumerate() {
            parts.insert(
                id,
                if i < counts[0] {
                    Part::Train
                } else {
                    Part::Val
                },
            );
        }
    }
    parts
}

/// Largest-remainder (Hamilton) apportionment of `n` items to parts in proportion to
/// `fractions` (which sum to 1): every count is within one of `fraction × n`.
/// Equal remainders go to the larger fraction, then to the earlier part; a part with
/// fraction 0 never gets an item.
pub(super) fn apportion(n: usize, fractions: &[f64]) -> Vec<usize> {
    let quotas: Vec<f64> = fractions.iter().map(|f| f * n as f64).collect();
    // The epsilon keeps 2.9999999999 (from 0.3 × 10) from flooring to 2.
    let mut counts: Vec<usize> = quotas.iter().map(|q| (q + 1e-9).floor() as usize).collect();
    let mut left = n.saturating_sub(counts.iter().sum());
    // Remainders and fractions compared in millionths, so float noise cannot reorder ties.
    let micro = |x: f64| (x * 1e6).round() as i64;
    let mut order: Vec<usize> = (0..fractions.len())
        .filter(|&i| fractions[i] > 0.0)
        .collect();
    order.sort_by_key(|&i| {
        (
            -micro(quotas[i] - counts[i] as f64),
            -micro(fractions[i]),
            i,
        )
    });
    for &i in order.iter().cycle().take(order.len() * 2) {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_follows_largest_remainders() {
        assert_eq!(apportion(10, &[0.7, 0.1, 0.2]), vec![7, 1, 2]);
        assert_eq!(apportion(5, &[0.7, 0.1, 0.2]), vec![4, 0, 1]);
        assert_eq!(apportion(3, &[0.7, 0.1, 0.2]), vec![2, 0, 1]);
        assert_eq!(apportion(1, &[0.7, 0.1, 0.2]), vec![1, 0, 0]);
        assert_eq!(apportion(0, &[0.7, 0.1, 0.2]), vec![0, 0, 0]);
        assert_eq!(apportion(10, &[0.6, 0.3, 0.1]), vec![6, 3, 1]);
        assert_eq!(apportion(7, &[0.5, 0.0, 0.5]), vec![4, 0, 3]);
        for n in 0..200 {
            let counts = apportion(n, &[0.7, 0.1, 0.2]);
            assert_eq!(counts.iter().sum::<usize>(), n);
            for (count, f) in counts.iter().zip([0.7, 0.1, 0.2]) {
                assert!(
                    (*count as f64 - f * n as f64).abs() < 1.0,
                    "n={n}: {counts:?}"
                );
            }
        }
    }

    fn groups(sizes: &[usize]) -> (Groups, Vec<String>) {
        let classes: Vec<String> = (0..sizes.len()).map(|c| format!("c{c}")).collect();
        let groups = sizes
            .iter()
            .enumerate()
            .map(|(c, &n)| {
                let mut ids: Vec<String> = (0..n).map(|p| format!("c{c}-p{p:03}")).collect();
                ids.sort();
                ids
            })
            .collect();
        (groups, classes)
    }

    #[test]
    fn kfold_test_folds_partition_the_patients() {
        let (groups, classes) = groups(&[23, 9, 4]);
        let k = 5;
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        let mut sizes = Vec::new();
        for fold in 0..k {
            let parts = by_kfold(&groups, &classes, k, fold, 0.1, 7);
            assert_eq!(parts.len(), 36);
            let test: Vec<_> = parts.iter().filter(|(_, p)| **p == Part::Test).collect();
            sizes.push(test.len());
            for (id, _) in test {
                assert!(
                    seen.insert(id.clone(), fold).is_none(),
                    "{id} in two test folds"
                );
            }
        }
        assert_eq!(seen.len(), 36, "every patient is in exactly one test fold");
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
    }
}
