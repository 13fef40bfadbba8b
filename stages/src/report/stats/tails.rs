//! Normal and Student t tails, taken from `statrs` special functions so small p-values keep
//! their relative precision (no `1 - cdf` cancellation).

use statrs::function::beta::beta_reg;
use statrs::function::erf::{erfc, erfc_inv};
use std::f64::consts::SQRT_2;

/// P(Z ≥ z) for a standard normal Z.
pub(super) fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / SQRT_2)
}

/// P(Z ≤ z) for a standard normal Z.
pub(super) fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / SQRT_2)
}

/// The z with P(Z ≤ z) = p, for p in (0, 1).
pub(super) fn normal_quantile(p: f64) -> f64 {
    -SQRT_2 * erfc_inv(2.0 * p)
}

/// P(|T| ≥ |t|) for Student's T with `dof` degrees of freedom: the regularised incomplete
/// beta I_{dof/(dof+t²)}(dof/2, 1/2), which stays accurate far into the tail.
pub(super) fn student_t_two_sided_p(t: f64, dof: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    beta_reg(dof / 2.0, 0.5, dof / (dof + t * t))
}
