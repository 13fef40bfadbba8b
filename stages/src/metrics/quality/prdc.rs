//! Precision, recall, density and coverage of a generated set against a real one, from
//! k-nearest-neighbour balls in feature space (Naeem et al. 2020, "Reliable Fidelity and
//! Diversity Metrics for Generative Models"), as their `prdc` package computes them.

use nalgebra::DMatrix;

use super::features::{feature_matrix, same_dimension};
use crate::StageError;

const METRIC: &str = "PRDC";

/// The k that Naeem et al. recommend.
pub const DEFAULT_NEAREST_K: usize = 5;

/// Distance-matrix entries computed at a time (32 MiB): the full real×generated matrix
/// of two 50,000-sample sets would take 20 GB.
const BLOCK_ENTRIES: usize = 1 << 22;

/// The four metrics, each in [0, 1] except density (unbounded; about 1 when the
/// generated set is distributed like the real one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prdc {
    /// Fidelity: the share of generated samples inside at least one real sample's ball.
    pub precision: f64,
    /// Diversity: the share of real samples inside at least one generated sample's ball.
    pub recall: f64,
    /// Fidelity, robust to real outliers: how many real balls hold a generated sample on
    /// average, divided by k.
    pub density: f64,
    /// Diversity, robust to generated outliers: the share of real balls that hold at least
    /// one generated sample.
    pub coverage: f64,
}

/// PRDC of `generated` against `real` (rows = samples) with Euclidean distances. A
/// sample's ball reaches its k-th nearest neighbour in its own set (itself left out);
/// "inside" is strictly inside, as in `prdc`.
///
/// Fails when `nearest_k` is 0, a set has no more than k rows, or the sets differ in the
/// number of features.
pub fn prdc(
    real: &[Vec<f32>],
    generated: &[Vec<f32>],
    nearest_k: usize,
) -> Result<Prdc, StageError> {
    if nearest_k == 0 {
        return Err(StageError::InvalidConfig(format!(
            "{METRIC}: needs nearest_k of at least 1"
        )));
    }
    let real = feature_matrix(METRIC, "real", real, nearest_k + 1)?;
    let generated = feature_matrix(METRIC, "generated", generated, nearest_k + 1)?;
    same_dimension(METRIC, &real, &generated)?;
    // Squared distances throughout: squaring keeps every comparison, and saves the roots.
    let real_radii = nearest_neighbour_radii(&real, nearest_k);
    let generated_radii = nearest_neighbour_radii(&generated, nearest_k);

    let mut real_balls_holding = vec![0usize; generated.nrows()];
    let (mut recalled, mut covered) = (0usize, 0usize);
    for_each_distance_block(&real, &generated, |first_row, distances| {
        for (r, row) in distances.row_iter().enumerate() {
            let radius = real_radii[first_row + r];
            let mut nearest = f64::INFINITY;
            let mut in_a_generated_ball = false;
            for (j, &distance) in row.iter().enumerate() {
                if distance < radius {
                    real_balls_holding[j] += 1;
                }
                in_a_generated_ball |= distance < generated_radii[j];
                nearest = nearest.min(distance);
            }
            recalled += usize::from(in_a_generated_ball);
            covered += usize::from(nearest < radius);
        }
    });

    let (n_real, n_generated) = (real.nrows() as f64, generated.nrows() as f64);
    let precise = real_balls_holding.iter().filter(|&&c| c > 0).count();
    let holdings: usize = real_balls_holding.iter().sum();
    Ok(Prdc {
        precision: precise as f64 / n_generated,
        recall: recalled as f64 / n_real,
        density: holdings as f64 / (nearest_k as f64 * n_generated),
        coverage: covered as f64 / n_real,
    })
}

/// Each row's squared distance to its k-th nearest other row.
fn nearest_neighbour_radii(x: &DMatrix<f64>, k: usize) -> Vec<f64> {
    let mut radii = Vec::with_capacity(x.nrows());
    for_each_distance_block(x, x, |first_row, distances| {
        for (r, row) in distances.row_iter().enumerate() {
            let own = first_row + r;
            let mut others: Vec<f64> = (row.iter().enumerate())
                .filter(|&(j, _)| j != own)
                .map(|(_, &d)| d)
                .collect();
            let (_, kth, _) = others.select_nth_unstable_by(k - 1, f64::total_cmp);
            radii.push(*kth);
        }
    });
    radii
}

/// Calls `visit(first_row, distances)` for consecutive blocks of `x`'s rows, in order,
/// where `distances[(r, j)]` is the squared Euclidean distance from row `first_row + r`
/// of `x` to row `j` of `y`.
///
/// Uses ‖x‖² + ‖y‖² − 2x·y, so the products run as one GEMM per block (as scikit-learn's
/// `euclidean_distances`, which `prdc` calls); cancellation can take a distance that is
/// zero a rounding error below zero, so results are clamped at zero.
fn for_each_distance_block(
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    mut visit: impl FnMut(usize, &DMatrix<f64>),
) {
    let y_t = y.transpose();
    let y_norms: Vec<f64> = y.row_iter().map(|row| row.norm_squared()).collect();
    let block_rows = (BLOCK_ENTRIES / y.nrows().max(1)).max(1);
    let mut first_row = 0;
    while first_row < x.nrows() {
        let rows = block_rows.min(x.nrows() - first_row);
        let block = x.rows(first_row, rows);
        let mut distances = block * &y_t;
        for (r, x_row) in block.row_iter().enumerate() {
            let x_norm = x_row.norm_squared();
            for (j, y_norm) in y_norms.iter().enumerate() {
                let d = &mut distances[(r, j)];
                *d = (x_norm + y_norm - 2.0 * *d).max(0.0);
            }
        }
        visit(first_row, &distances);
        first_row += rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(values: &[f32]) -> Vec<Vec<f32>> {
        values.iter().map(|&v| vec![v]).collect()
    }

    #[test]
    fn matches_a_hand_computed_one_dimensional_case() {
        // k = 1. Real {0, 1, 10}: radii 1, 1, 9 (balls (−1, 1), (0, 2), (1, 19)).
        // Generated {0.5, 5, 30}: radii 4.5, 4.5, 25 (balls (−4, 5), (0.5, 9.5), (5, 55)).
        // Precision: 0.5 and 5 lie in a real ball, 30 does not → 2/3.
        // Density: 0.5 lies in 2 balls, 5 in 1 (10's) → 3 / (1 · 3).
        // Recall: 0 and 1 lie in 0.5's ball, 10 in 30's ball → 3/3.
        // Coverage: the nearest generated sample lies 0.5 from 0 (< 1), 0.5 from 1 (< 1)
        // and 5 from 10 (< 9) → 3/3.
        let m = prdc(&points(&[0.0, 1.0, 10.0]), &points(&[0.5, 5.0, 30.0]), 1).unwrap();
        assert_eq!(
            m,
            Prdc {
                precision: 2.0 / 3.0,
                recall: 1.0,
                density: 1.0,
                coverage: 1.0
            }
        );
    }

    #[test]
    fn blocks_cover_every_row_in_order() {
        let x = DMatrix::from_fn(5, 2, |i, j| (i * 2 + j) as f64);
        let mut seen = Vec::new();
        for_each_distance_block(&x, &x, |first, d| {
            for r in 0..d.nrows() {
                assert_eq!(d[(r, first + r)], 0.0);
                seen.push(first + r);
            }
        });
        assert_eq!(seen, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn needs_more_rows_than_k() {
        let five = points(&[0.0, 1.0, 2.0, 3.0, 4.0]);
        assert!(prdc(&five, &five, 5).is_err());
        assert!(prdc(&five, &five, 0).is_err());
        assert!(prdc(&five, &five, 4).is_ok());
    }
}
