//! Fréchet distance between Gaussians fitted to two feature sets (FID with Inception
//! features; Heusel et al. 2017), computed as pytorch-fid's `calculate_frechet_distance`.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use super::features::{feature_matrix, same_dimension};
use crate::StageError;

const METRIC: &str = "Fréchet distance";

/// Eigenvalues below `-PSD_TOLERANCE · (largest |eigenvalue|)` mean that a given
/// covariance is not positive semi-definite. Far above rounding (about 1e-16 · d).
const PSD_TOLERANCE: f64 = 1e-8;

/// The mean and the unbiased covariance of a feature set: all the Fréchet distance needs
/// from a set, so a reference set's statistics can be computed once and kept (as
/// pytorch-fid's `.npz` files).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureStats {
    mean: DVector<f64>,
    /// Exactly symmetric, so column-major storage is also row-major.
    covariance: DMatrix<f64>,
}

impl FeatureStats {
    /// Statistics of `rows` (one row per sample): the mean and the covariance with the
    /// n − 1 denominator, as `numpy.cov(rowvar=False)`.
    ///
    /// Fails with fewer than 2 rows, rows of different lengths, or non-finite values.
    pub fn from_features(rows: &[Vec<f32>]) -> Result<Self, StageError> {
        Ok(Self::from_matrix(feature_matrix(METRIC, "given", rows, 2)?))
    }

    /// Statistics of a checked n×d feature matrix, n ≥ 2.
    fn from_matrix(x: DMatrix<f64>) -> Self {
        let n = x.nrows() as f64;
        let mean = x.row_mean().transpose();
        let mut centred = x;
        for mut row in centred.row_iter_mut() {
            row -= mean.transpose();
        }
        let covariance = centred.transpose() * &centred / (n - 1.0);
        Self {
            mean,
            covariance: symmetrised(covariance),
        }
    }

    /// Statistics given directly: a mean of length d and a d×d covariance, row-major.
    ///
    /// Only the symmetric part (C + Cᵀ)/2 is kept. Fails when the lengths do not fit,
    /// a value is not finite, or the covariance has an eigenvalue clearly below zero
    /// (it would not be a covariance).
    pub fn new(mean: Vec<f64>, covariance: Vec<f64>) -> Result<Self, StageError> {
        let d = mean.len();
        let invalid = |reason: String| StageError::InvalidConfig(format!("{METRIC}: {reason}"));
        if d == 0 || covariance.len() != d * d {
            return Err(invalid(format!(
                "a mean of length {d} needs a {d}x{d} covariance ({} values), got {}",
                d * d,
                covariance.len()
            )));
        }
        if mean.iter().chain(&covariance).any(|v| !v.is_finite()) {
            return Err(invalid("the statistics hold non-finite values".to_owned()));
        }
        let covariance = symmetrised(DMatrix::from_row_slice(d, d, &covariance));
        let eigenvalues = covariance.clone().symmetric_eigenvalues();
        let scale = eigenvalues.amax();
        let smallest = eigenvalues.min();
        if smallest < -PSD_TOLERANCE * scale {
            return Err(invalid(format!(
                "the covariance is not positive semi-definite (eigenvalue {smallest:e})"
            )));
        }
        Ok(Self {
            mean: DVector::from_vec(mean),
            covariance,
        })
    }

    /// The number of features d.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    pub fn mean(&self) -> &[f64] {
        self.mean.as_slice()
    }

    /// The d×d covariance, row-major (it is symmetric, so column-major too).
    pub fn covariance(&self) -> &[f64] {
        self.covariance.as_slice()
    }
}

/// The Fréchet distance between Gaussians fitted to two feature sets (rows = samples):
/// ‖μ₁ − μ₂‖² + tr(S₁ + S₂ − 2 (S₁^½ S₂ S₁^½)^½), with unbiased covariances S.
///
/// Fails when a set has fewer than 2 rows or the sets differ in the number of features.
/// With fewer rows than features the covariances are singular; the distance is still
/// defined, but it is a poor estimate (FID is normally taken over thousands of samples).
///
/// When a set has fewer rows than features (e.g. a class of a few hundred images in
/// Inception's 2048 dimensions), the same value comes from n×n matrices instead of d×d
/// ones: with S₁ = AAᵀ and S₂ = BBᵀ (A, B the centred rows / √(n − 1), transposed),
/// tr S₁ = ‖A‖²_F and the non-zero eigenvalues of S₁S₂ are those of (AᵀB)(AᵀB)ᵀ, so
/// tr((S₁S₂)^½) is the sum of AᵀB's singular values. Exact, and free of the rounding
/// that square roots of zero eigenvalues add on the d×d path.
pub fn frechet_distance(a: &[Vec<f32>], b: &[Vec<f32>]) -> Result<f64, StageError> {
    let a = feature_matrix(METRIC, "first", a, 2)?;
    let b = feature_matrix(METRIC, "second", b, 2)?;
    same_dimension(METRIC, &a, &b)?;
    if a.nrows().min(b.nrows()) < a.ncols() {
        return Ok(low_rank_distance(a, b));
    }
    frechet_distance_from_stats(&FeatureStats::from_matrix(a), &FeatureStats::from_matrix(b))
}

/// The Fréchet distance through n×n matrices (see [`frechet_distance`]).
fn low_rank_distance(a: DMatrix<f64>, b: DMatrix<f64>) -> f64 {
    let (mean_a, a) = centred_scaled(a);
    let (mean_b, b) = centred_scaled(b);
    // Rows are samples here, so AᵀB of the docs is `a · bᵀ` (n₁×n₂).
    // Singular values straight from an SVD, not square roots of (AᵀB)(AᵀB)ᵀ's
    // eigenvalues, which would turn a rounding error ε into √ε.
    let cross_trace = (&a * b.transpose()).singular_values().sum();
    (mean_a - mean_b).norm_squared() + a.norm_squared() + b.norm_squared() - 2.0 * cross_trace
}

/// The mean of the rows, and the rows centred and divided by √(n − 1).
fn centred_scaled(x: DMatrix<f64>) -> (DVector<f64>, DMatrix<f64>) {
    let scale = 1.0 / (x.nrows() as f64 - 1.0).sqrt();
    let mean = x.row_mean().transpose();
    let mut centred = x;
    for mut row in centred.row_iter_mut() {
        row -= mean.transpose();
        row *= scale;
    }
    (mean, centred)
}

/// The Fréchet distance between N(μ₁, S₁) and N(μ₂, S₂); fails when the dimensions differ.
///
/// tr((S₁ S₂)^½), pytorch-fid's `scipy.linalg.sqrtm` term, equals tr((S₁^½ S₂ S₁^½)^½):
/// the two matrices are similar, so they share eigenvalues. The latter is symmetric, so
/// two symmetric eigendecompositions (S₁, then S₁^½ S₂ S₁^½) give it without complex
/// arithmetic. Both matrices are positive semi-definite in exact arithmetic, but rounding
/// leaves eigenvalues that are zero (singular covariances, e.g. fewer samples than
/// features) slightly negative, and their square roots would be NaN: eigenvalues below
/// zero are clamped to zero, which is what they are up to rounding.
///
/// Square roots amplify rounding: an eigenvalue that is zero but computed as ε·λ_max
/// contributes √(ε·λ_max) ≈ 1e-8·√λ_max to the trace term (scipy's `sqrtm` has the same
/// limit). With full-rank covariances this does not arise; with singular ones the result
/// can be off by about 1e-8 of the covariances' scale per zero eigenvalue, and can come
/// out slightly below zero for identical sets.
pub fn frechet_distance_from_stats(a: &FeatureStats, b: &FeatureStats) -> Result<f64, StageError> {
    if a.dim() != b.dim() {
        return Err(StageError::InvalidConfig(format!(
            "{METRIC}: the sets have {} and {} features per row",
            a.dim(),
            b.dim()
        )));
    }
    let mean_term = (&a.mean - &b.mean).norm_squared();
    let root_a = psd_sqrt(&a.covariance);
    let product = symmetrised(&root_a * &b.covariance * &root_a);
    let cross_trace: f64 = product
        .symmetric_eigenvalues()
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    Ok(mean_term + a.covariance.trace() + b.covariance.trace() - 2.0 * cross_trace)
}

/// The symmetric square root V·diag(√λ)·Vᵀ of a positive semi-definite matrix, negative
/// (rounding) eigenvalues clamped to zero.
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let SymmetricEigen {
        eigenvectors,
        eigenvalues,
    } = m.clone().symmetric_eigen();
    let roots = eigenvalues.map(|l| l.max(0.0).sqrt());
    let scaled = &eigenvectors * DMatrix::from_diagonal(&roots);
    symmetrised(scaled * eigenvectors.transpose())
}

/// (M + Mᵀ)/2: exactly symmetric, as the eigensolver (which reads one triangle) assumes.
fn symmetrised(m: DMatrix<f64>) -> DMatrix<f64> {
    (&m + m.transpose()) * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagonal_stats(mean: &[f64], variances: &[f64]) -> FeatureStats {
        let d = mean.len();
        let mut cov = vec![0.0; d * d];
        for (i, v) in variances.iter().enumerate() {
            cov[i * d + i] = *v;
        }
        FeatureStats::new(mean.to_vec(), cov).unwrap()
    }

    #[test]
    fn diagonal_gaussians_match_the_closed_form() {
        // ‖μ₁ − μ₂‖² + Σ (σ₁ − σ₂)² = (1 + 4) + ((1 − 2)² + (3 − 1)²) = 10.
        let a = diagonal_stats(&[0.0, 0.0], &[1.0, 9.0]);
        let b = diagonal_stats(&[1.0, 2.0], &[4.0, 1.0]);
        let fid = frechet_distance_from_stats(&a, &b).unwrap();
        assert!((fid - 10.0).abs() < 1e-12, "{fid}");
    }

    #[test]
    fn singular_covariances_give_finite_distances() {
        // 3 samples in 5 dimensions: rank-2 covariances, whose zero eigenvalues come out
        // of the eigensolver a rounding error either side of zero (unclamped: NaN). The
        // square root turns an eigenvalue ε·λ² of S² into 1e-8·λ: hence the looser bound.
        let a: Vec<Vec<f32>> = (0..3)
            .map(|i| (0..5).map(|j| ((i * 7 + j * 3) % 5) as f32 * 0.3).collect())
            .collect();
        let b: Vec<Vec<f32>> = a
            .iter()
            .map(|r| r.iter().map(|v| v * 2.0 + 1.0).collect())
            .collect();
        let trace: f64 = FeatureStats::from_features(&a)
            .unwrap()
            .covariance()
            .iter()
            .step_by(6)
            .sum();
        let same = frechet_distance(&a, &a).unwrap();
        assert!(same.abs() < 1e-6 * trace, "{same} (trace {trace})");
        let different = frechet_distance(&a, &b).unwrap();
        assert!(different.is_finite() && different > 1.0, "{different}");
    }

    #[test]
    fn few_samples_give_the_distance_of_the_full_covariances() {
        // 6 and 9 samples in 12 dimensions: the n×n path against the d×d one.
        let rows = |n: usize, seed: usize| -> Vec<Vec<f32>> {
            (0..n)
                .map(|i| {
                    (0..12)
                        .map(|j| (((i * 31 + j * 17 + seed) % 23) as f32 - 11.0) * 0.1)
                        .collect()
                })
                .collect()
        };
        let (a, b) = (rows(6, 1), rows(9, 5));
        let fast = frechet_distance(&a, &b).unwrap();
        let full = frechet_distance_from_stats(
            &FeatureStats::from_features(&a).unwrap(),
            &FeatureStats::from_features(&b).unwrap(),
        )
        .unwrap();
        // The d×d path carries √(rounding) from the zero eigenvalues: ~1e-8 of the scale.
        assert!((fast - full).abs() < 1e-6 * full, "{fast} vs {full}");
        let same = frechet_distance(&a, &a).unwrap();
        assert!(same.abs() < 1e-12, "{same}");
    }

    #[test]
    fn statistics_are_numpy_mean_and_unbiased_cov() {
        let stats = FeatureStats::from_features(&[vec![1.0, 0.0], vec![3.0, 4.0]]).unwrap();
        assert_eq!(stats.mean(), [2.0, 2.0]);
        assert_eq!(stats.covariance(), [2.0, 4.0, 4.0, 8.0]);
    }

    #[test]
    fn rejects_bad_statistics_and_sets() {
        assert!(FeatureStats::new(vec![0.0, 0.0], vec![1.0; 3]).is_err());
        assert!(FeatureStats::new(vec![0.0, 0.0], vec![1.0, 2.0, 2.0, 1.0]).is_err());
        let one_row = frechet_distance(&[vec![1.0]], &[vec![1.0], vec![2.0]]);
        assert!(one_row.unwrap_err().to_string().contains("first set"));
        let one_row = frechet_distance(&[vec![1.0], vec![2.0]], &[vec![1.0]]);
        assert!(one_row.unwrap_err().to_string().contains("second set"));
        let dims = frechet_distance(&[vec![1.0], vec![2.0]], &[vec![1.0, 0.0], vec![2.0, 0.0]]);
        assert!(dims.unwrap_err().to_string().contains("1 and 2 features"));
    }
}
