//! Feature sets as the feature-space metrics take them (one row per sample), checked once
//! and turned into f64 matrices.

use nalgebra::DMatrix;

use crate::StageError;

/// `rows` as an n×d matrix, after checking that there are at least `min_rows` rows, all
/// of one length d ≥ 1, with finite values only. `metric` and `set` name the caller and
/// the set in the message.
pub(super) fn feature_matrix(
    metric: &str,
    set: &str,
    rows: &[Vec<f32>],
    min_rows: usize,
) -> Result<DMatrix<f64>, StageError> {
    let invalid = |reason: String| StageError::InvalidConfig(format!("{metric}: {reason}"));
    if rows.len() < min_rows {
        return Err(invalid(format!(
            "the {set} set needs at least {min_rows} feature rows, it has {}",
            rows.len()
        )));
    }
    let dim = rows[0].len();
    if dim == 0 {
        return Err(invalid(format!("the {set} set has empty feature rows")));
    }
    for (i, row) in rows.iter().enumerate() {
        if row.len() != dim {
            return Err(invalid(format!(
                "row {i} of the {set} set has {} features, row 0 has {dim}",
                row.len()
            )));
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!(
                "feature {j} of row {i} of the {set} set is {}",
                row[j]
            )));
        }
    }
    Ok(DMatrix::from_fn(rows.len(), dim, |i, j| {
        f64::from(rows[i][j])
    }))
}

/// Checks that two feature sets have the same number of features (columns).
pub(super) fn same_dimension(
    metric: &str,
    a: &DMatrix<f64>,
    b: &DMatrix<f64>,
) -> Result<(), StageError> {
    if a.ncols() == b.ncols() {
        Ok(())
    } else {
        Err(StageError::InvalidConfig(format!(
            "{metric}: the sets have {} and {} features per row",
            a.ncols(),
            b.ncols()
        )))
    }
}

/// Pairwise dot products: entry (i, j) is `a.row(i) · b.row(j)`.
///
/// Built as a matrix product, so nalgebra hands it to its blocked GEMM (matrixmultiply):
/// Inception features have 2,048 dimensions and sets thousands of rows.
pub(super) fn gram(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    a * b.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_ragged_and_non_finite_sets() {
        let ok = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        assert_eq!(
            feature_matrix("m", "first", &ok, 2).unwrap().shape(),
            (2, 2)
        );
        assert!(feature_matrix("m", "first", &ok, 3).is_err());
        assert!(feature_matrix("m", "first", &[vec![], vec![]], 2).is_err());
        assert!(feature_matrix("m", "first", &[vec![1.0], vec![1.0, 2.0]], 2).is_err());
        let nan = feature_matrix("m", "first", &[vec![1.0], vec![f32::NAN]], 2);
        let message = nan.unwrap_err().to_string();
        assert!(
            message.contains("row 1 of the first set is NaN"),
            "{message}"
        );
    }

    #[test]
    fn gram_holds_row_dot_products() {
        let a = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let b = DMatrix::from_row_slice(1, 2, &[5.0, 6.0]);
        assert_eq!(gram(&a, &b), DMatrix::from_row_slice(2, 1, &[17.0, 39.0]));
    }
}
