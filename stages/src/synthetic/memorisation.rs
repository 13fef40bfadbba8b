//! The two failures that matter with a few hundred training images, which FID cannot see:
//!
//! - **Memorisation**: each synthetic image's nearest real training image in the feature
//!   space, against the real-to-real baseline (each real image's nearest *other* real
//!   image). A synthetic image closer to a training image than all but the closest 5 % of
//!   real pairs is a near-copy; a generator that does not copy makes about as many as the
//!   real images themselves (5 %).
//! - **Class fidelity**: the real-trained feature classifier's accuracy and confusion on
//!   each class of the synthetic images (does a "viral" image look viral?).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::StageError;
use crate::classifiers::Predictions;

/// The real-to-real nearest-neighbour quantile below which a synthetic image counts as a
/// near-copy.
pub const NEAR_COPY_QUANTILE: f64 = 0.05;

/// Closest synthetic–real pairs kept for the report.
pub const CLOSEST_PAIRS: usize = 8;

/// Quantiles of a distance distribution.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Distances {
    pub min: f64,
    pub p05: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub max: f64,
    pub n: usize,
}

impl Distances {
    fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Self {
            min: quantile(&sorted, 0.0),
            p05: quantile(&sorted, 0.05),
            p25: quantile(&sorted, 0.25),
            median: quantile(&sorted, 0.5),
            p75: quantile(&sorted, 0.75),
            max: quantile(&sorted, 1.0),
            n: sorted.len(),
        }
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64)
}

/// A synthetic image and its nearest real training image.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ClosePair {
    /// Paths inside the synthetic and real image sets.
    pub synthetic: String,
    pub real: String,
    pub synthetic_class: String,
    pub real_class: String,
    pub distance: f64,
    /// Copies of both images beside `metrics.json`, so the report needs no other input.
    pub synthetic_copy: String,
    pub real_copy: String,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Memorisation {
    /// Euclidean distance in the feature space to the nearest real training image.
    pub synthetic_to_real: Distances,
    /// Each real training image to its nearest other real training image.
    pub real_to_real: Distances,
    /// The real-to-real [`NEAR_COPY_QUANTILE`] quantile.
    pub near_copy_threshold: f64,
    /// Synthetic images closer than the threshold to some training image.
    pub near_copy_fraction: f64,
    /// The same fraction among the real images (≈ [`NEAR_COPY_QUANTILE`] by construction).
    pub real_near_copy_fraction: f64,
    pub near_copy_fraction_per_class: BTreeMap<String, f64>,
    pub closest: Vec<ClosePair>,
}

/// One row and column per class: how often an image of the row's class was predicted as
/// the column's.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ClassFidelity {
    pub classes: Vec<String>,
    /// Fraction of synthetic images the real-trained classifier puts in their own class.
    pub accuracy: f64,
    pub per_class_accuracy: BTreeMap<String, f64>,
    pub confusion: Vec<Vec<usize>>,
}

/// Images of an image set as the memorisation check needs them.
pub struct Embedded<'a> {
    pub features: &'a [Vec<f32>],
    pub labels: &'a [usize],
    /// Manifest paths, in the order of `features`.
    pub paths: &'a [String],
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Index and distance of the nearest row of `pool` to `query`, skipping `skip`.
fn nearest(query: &[f32], pool: &[Vec<f32>], skip: Option<usize>) -> Option<(usize, f64)> {
    pool.iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(i, row)| (i, distance(query, row)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Memorisation of `synthetic` against the `real` training images. Copies the closest
/// pairs' PNGs from `real_dir`/`synthetic_dir` into `out_dir/closest/`.
pub fn memorisation(
    real: &Embedded<'_>,
    synthetic: &Embedded<'_>,
    classes: &[String],
    dirs: (&Path, &Path),
    out_dir: &Path,
) -> Result<Memorisation, StageError> {
    if real.features.len() < 2 || synthetic.features.is_empty() {
        return Err(StageError::InvalidConfig(format!(
            "memorisation needs at least 2 real and 1 synthetic image, not {} and {}",
            real.features.len(),
            synthetic.features.len()
        )));
    }
    let real_nn: Vec<f64> = (0..real.features.len())
        .filter_map(|i| Some(nearest(&real.features[i], real.features, Some(i))?.1))
        .collect();
    let synthetic_nn: Vec<(usize, f64)> = synthetic
        .features
        .iter()
        .filter_map(|row| nearest(row, real.features, None))
        .collect();
    let mut sorted_real = real_nn.clone();
    sorted_real.sort_by(f64::total_cmp);
    let threshold = quantile(&sorted_real, NEAR_COPY_QUANTILE);
    let fraction = |values: &mut dyn Iterator<Item = f64>| {
        let (mut below, mut all) = (0usize, 0usize);
        for v in values {
            below += usize::from(v < threshold);
            all += 1;
        }
        below as f64 / all.max(1) as f64
    };
    let per_class = classes
        .iter()
        .enumerate()
        .filter_map(|(c, name)| {
            let mut of_class = synthetic_nn
                .iter()
                .zip(synthetic.labels)
                .filter(|(_, l)| **l == c)
                .map(|((_, d), _)| *d)
                .peekable();
            of_class.peek()?;
            Some((name.clone(), fraction(&mut of_class)))
        })
        .collect();
    let mut order: Vec<usize> = (0..synthetic_nn.len()).collect();
    order.sort_by(|&a, &b| synthetic_nn[a].1.total_cmp(&synthetic_nn[b].1));
    let closest_dir = out_dir.join("closest");
    if !order.is_empty() {
        std::fs::create_dir_all(&closest_dir).map_err(|source| StageError::Write {
            path: closest_dir.clone(),
            source,
        })?;
    }
    let mut closest = Vec::new();
    for (rank, &s) in order.iter().take(CLOSEST_PAIRS).enumerate() {
        let (r, d) = synthetic_nn[s];
        let synthetic_copy = format!("closest/{rank}-synthetic.png");
        let real_copy = format!("closest/{rank}-real.png");
        copy(
            &dirs.1.join(&synthetic.paths[s]),
            &out_dir.join(&synthetic_copy),
        )?;
        copy(&dirs.0.join(&real.paths[r]), &out_dir.join(&real_copy))?;
        closest.push(ClosePair {
            synthetic: synthetic.paths[s].clone(),
            real: real.paths[r].clone(),
            synthetic_class: classes[synthetic.labels[s]].clone(),
            real_class: classes[real.labels[r]].clone(),
            distance: d,
            synthetic_copy,
            real_copy,
        });
    }
    let synthetic_distances: Vec<f64> = synthetic_nn.iter().map(|(_, d)| *d).collect();
    Ok(Memorisation {
        synthetic_to_real: Distances::of(&synthetic_distances),
        real_to_real: Distances::of(&real_nn),
        near_copy_threshold: threshold,
        near_copy_fraction: fraction(&mut synthetic_distances.iter().copied()),
        real_near_copy_fraction: fraction(&mut real_nn.iter().copied()),
        near_copy_fraction_per_class: per_class,
        closest,
    })
}

fn copy(from: &Path, to: &Path) -> Result<(), StageError> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| StageError::Write {
            path: to.to_owned(),
            source,
        })
}

/// Accuracy and confusion of the real-trained classifier on the synthetic images.
pub fn class_fidelity(predictions: &Predictions) -> ClassFidelity {
    let k = predictions.classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in predictions.y_true.iter().zip(&predictions.y_pred) {
        if t < k && p < k {
            confusion[t][p] += 1;
        }
    }
    let total: usize = confusion.iter().flatten().sum();
    let right: usize = (0..k).map(|i| confusion[i][i]).sum();
    let per_class_accuracy = predictions
        .classes
        .iter()
        .enumerate()
        .filter_map(|(i, class)| {
            let n: usize = confusion[i].iter().sum();
            (n > 0).then(|| (class.clone(), confusion[i][i] as f64 / n as f64))
        })
        .collect();
    ClassFidelity {
        classes: predictions.classes.clone(),
        accuracy: right as f64 / total.max(1) as f64,
        per_class_accuracy,
        confusion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(points: &[(f32, f32)]) -> Vec<Vec<f32>> {
        points.iter().map(|&(x, y)| vec![x, y]).collect()
    }

    #[test]
    fn copies_are_near_copies_and_fresh_points_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let (real_dir, synth_dir, out) = (
            dir.path().join("real"),
            dir.path().join("synth"),
            dir.path().join("out"),
        );
        std::fs::create_dir_all(&real_dir).unwrap();
        std::fs::create_dir_all(&synth_dir).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        // Real points on a grid with spacing 1: every real-to-real distance is 1.
        let real_points: Vec<(f32, f32)> =
            (0..25).map(|i| ((i % 5) as f32, (i / 5) as f32)).collect();
        let real_features = rows(&real_points);
        let real_paths: Vec<String> = (0..25).map(|i| format!("r{i}.png")).collect();
        for p in &real_paths {
            std::fs::write(real_dir.join(p), p).unwrap();
        }
        // Two exact copies of real images 3 and 17, two points far from every real one.
        let synth_features = rows(&[(3.0, 0.0), (2.0, 3.0), (10.0, 10.0), (-3.0, 0.0)]);
        let synth_paths: Vec<String> = (0..4).map(|i| format!("s{i}.png")).collect();
        for p in &synth_paths {
            std::fs::write(synth_dir.join(p), p).unwrap();
        }
        let labels_real = vec![0; 25];
        let labels_synth = vec![0, 1, 0, 1];
        let classes = vec!["a".to_owned(), "b".to_owned()];
        let m = memorisation(
            &Embedded {
                features: &real_features,
                labels: &labels_real,
                paths: &real_paths,
            },
            &Embedded {
                features: &synth_features,
                labels: &labels_synth,
                paths: &synth_paths,
            },
            &classes,
            (&real_dir, &synth_dir),
            &out,
        )
        .unwrap();
        assert!((m.near_copy_threshold - 1.0).abs() < 1e-9);
        assert!((m.near_copy_fraction - 0.5).abs() < 1e-12, "{m:?}");
        assert_eq!(m.real_near_copy_fraction, 0.0);
        assert_eq!(m.near_copy_fraction_per_class["a"], 0.5);
        assert_eq!(m.near_copy_fraction_per_class["b"], 0.5);
        assert_eq!(m.closest.len(), 4);
        assert_eq!(m.closest[0].distance, 0.0);
        let first_two: Vec<(&str, &str)> = m.closest[..2]
            .iter()
            .map(|p| (p.synthetic.as_str(), p.real.as_str()))
            .collect();
        assert!(first_two.contains(&("s0.png", "r3.png")), "{first_two:?}");
        assert!(first_two.contains(&("s1.png", "r17.png")), "{first_two:?}");
        let copied = std::fs::read_to_string(out.join(&m.closest[0].real_copy)).unwrap();
        assert_eq!(copied, m.closest[0].real);
        // (10, 10) is √72 from (4, 4); (−3, 0) is 3 from (0, 0).
        assert!((m.synthetic_to_real.max - 72f64.sqrt()).abs() < 1e-6);
        assert_eq!(m.closest[2].real, "r0.png");
    }

    #[test]
    fn class_fidelity_counts_the_confusion() {
        let p = Predictions {
            classes: vec!["a".into(), "b".into()],
            y_true: vec![0, 0, 0, 1, 1],
            y_pred: vec![0, 0, 1, 0, 1],
            probs: vec![],
        };
        let f = class_fidelity(&p);
        assert_eq!(f.confusion, vec![vec![2, 1], vec![1, 1]]);
        assert!((f.accuracy - 0.6).abs() < 1e-12);
        assert!((f.per_class_accuracy["a"] - 2.0 / 3.0).abs() < 1e-12);
    }
}
