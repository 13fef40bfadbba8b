//! The diversity of a set of generated images as their mean pairwise MS-SSIM (Odena et
//! al. 2017): near 1 when the generator repeats itself (mode collapse), lower when the
//! images differ.

use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;

use super::gray_image::GrayImage;
use super::ms_ssim::{checked_scales, ms_ssim};
use crate::StageError;

/// The mean MS-SSIM over pairs of a set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairwiseMsSsim {
    pub mean: f64,
    /// Pairs averaged over.
    pub pairs: usize,
    /// Scales of each MS-SSIM (all images share one size).
    pub scales: usize,
}

/// The mean [`ms_ssim`] over `max_pairs` distinct pairs of different images drawn at
/// random (seeded ChaCha8, reproducible for a given seed and `rand` version), or over
/// all pairs when there are no more than `max_pairs`.
///
/// Fails with fewer than 2 images, `max_pairs` 0, or images of different sizes or with
/// a side below 11.
pub fn mean_pairwise_ms_ssim(
    images: &[GrayImage],
    max_pairs: usize,
    seed: u64,
) -> Result<PairwiseMsSsim, StageError> {
    if images.len() < 2 {
        return Err(StageError::InvalidConfig(format!(
            "mean pairwise MS-SSIM needs at least 2 images, got {}",
            images.len()
        )));
    }
    if max_pairs == 0 {
        return Err(StageError::InvalidConfig(
            "mean pairwise MS-SSIM needs max_pairs of at least 1".to_owned(),
        ));
    }
    // Check every image up front, not only those drawn, so the outcome does not depend on
    // the seed.
    let mut scales = 0;
    for image in images {
        scales = checked_scales("mean pairwise MS-SSIM", &images[0], image)?;
    }
    let n = images.len();
    let all_pairs = n * (n - 1) / 2;
    let chosen: Vec<usize> = if all_pairs <= max_pairs {
        (0..all_pairs).collect()
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        index::sample(&mut rng, all_pairs, max_pairs).into_vec()
    };
    let mut sum = 0.0;
    for &pair in &chosen {
        let (i, j) = pair_at(pair, n);
        sum += ms_ssim(&images[i], &images[j])?.value;
    }
    Ok(PairwiseMsSsim {
        mean: sum / chosen.len() as f64,
        pairs: chosen.len(),
        scales,
    })
}

/// The pair (i, j), i < j, at position `index` when the pairs of `n` items are listed
/// row by row: (0, 1), (0, 2), …, (0, n − 1), (1, 2), …
fn pair_at(index: usize, n: usize) -> (usize, usize) {
    // Row i starts after the rows before it: i·(2n − i − 1)/2 pairs.
    let row_start = |i: usize| i * (2 * n - i - 1) / 2;
    // Binary search for the last row that starts at or before `index`.
    let (mut low, mut high) = (0, n - 1);
    while high - low > 1 {
        let middle = (low + high) / 2;
        if row_start(middle) <= index {
            low = middle;
        } else {
            high = middle;
        }
    }
    (low, low + 1 + index - row_start(low))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_listed_row_by_row() {
        let n = 5;
        let pairs: Vec<_> = (0..n * (n - 1) / 2).map(|p| pair_at(p, n)).collect();
        let expected: Vec<_> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect();
        assert_eq!(pairs, expected);
        assert_eq!(pair_at(0, 2), (0, 1));
    }

    #[test]
    fn rejects_small_sets_and_mixed_sizes() {
        let image = GrayImage::new(16, 16, vec![0.5; 256]).unwrap();
        let other = GrayImage::new(16, 17, vec![0.5; 272]).unwrap();
        assert!(mean_pairwise_ms_ssim(&[], 10, 0).is_err());
        assert!(mean_pairwise_ms_ssim(std::slice::from_ref(&image), 10, 0).is_err());
        assert!(mean_pairwise_ms_ssim(&[image.clone(), image.clone()], 0, 0).is_err());
        assert!(mean_pairwise_ms_ssim(&[image.clone(), image.clone(), other], 1, 0).is_err());
    }
}
