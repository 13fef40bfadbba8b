//! Checkpoint selection. The score is KID (unbiased MMD² with the cubic polynomial
//! kernel) between images drawn from a checkpoint and real training images of the class
//! held out from generator training, in a cheap fixed feature space: the images
//! average-pooled to 16×16 ("pixel KID"). It needs no feature network, works with a
//! handful of held-out images (unlike FID, whose covariance needs more samples than
//! dimensions) and never looks at val or test images.

use crate::StageError;
use crate::metrics::quality::mmd2_unbiased;

/// Side of the pooled grid the selection features are taken on.
pub const POOLED_SIDE: usize = 16;

/// Average-pools each row of `size`² pixels to a `POOLED_SIDE`² feature vector (block
/// bounds are rounded, so any size ≥ 16 works).
pub fn pixel_features(rows: &[Vec<f32>], size: usize) -> Vec<Vec<f32>> {
    let side = POOLED_SIDE.min(size);
    let bound = |i: usize| i * size / side;
    rows.iter()
        .map(|row| {
            let mut out = Vec::with_capacity(side * side);
            for by in 0..side {
                for bx in 0..side {
                    let (y0, y1, x0, x1) = (bound(by), bound(by + 1), bound(bx), bound(bx + 1));
                    let mut sum = 0.0f32;
                    for y in y0..y1 {
                        sum += row[y * size + x0..y * size + x1].iter().sum::<f32>();
                    }
                    out.push(sum / ((y1 - y0) * (x1 - x0)) as f32);
                }
            }
            out
        })
        .collect()
}

/// KID between generated and held-out real images (rows of `size`² values); lower is
/// better.
pub fn selection_score(
    generated: &[Vec<f32>],
    real: &[Vec<f32>],
    size: usize,
) -> Result<f64, StageError> {
    mmd2_unbiased(
        &pixel_features(generated, size),
        &pixel_features(real, size),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_averages_blocks() {
        let size = 32;
        let row: Vec<f32> = (0..size * size)
            .map(|i| if (i / size) < 16 { 1.0 } else { -1.0 })
            .collect();
        let features = pixel_features(&[row], size);
        assert_eq!(features[0].len(), 256);
        assert!(features[0][..128].iter().all(|&v| v == 1.0));
        assert!(features[0][128..].iter().all(|&v| v == -1.0));
    }
}
