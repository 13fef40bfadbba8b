//! Checkpoint selection. The score is KID (unbiased MMD² with the cubic polynomial
//! kernel) between images drawn from a checkpoint and real training images of the class
//! held out from generator training, never val or test images. It is computed in one of
//! two feature spaces:
//! - with a `features` model (a classifier trained on the real training set, as
//!   `score.quality` takes), its penultimate layer: the space where class identity and
//!   anatomy show;
//! - without one, the images average-pooled to 16×16 ("pixel KID"): no network needed,
//!   but little more than brightness and layout, close to noise.
//!
//! KID rather than FID: it works with a handful of held-out images (FID's covariance needs
//! more samples than dimensions). Every score comes with its spread: every checkpoint
//! meets the same held-out images, so what can flip a comparison between two of them is
//! the draw of generated images; the spread is the standard deviation of the score over
//! random halves of that draw (about √2 times the full draw's own noise: conservative).

use std::path::Path;

use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;

use super::images::to_u8;
use crate::StageError;
use crate::backend::SelectedDevice;
use crate::classifiers::FeatureNet;
use crate::metrics::quality::mmd2_unbiased;

/// Random halves of the drawn images the spread is computed over.
const SPREAD_HALVES: usize = 20;

/// The feature space checkpoints are scored in.
#[derive(Clone, Copy)]
pub enum SelectionSpace<'a> {
    /// 16×16 average-pooled pixels.
    Pixels,
    /// The penultimate layer of a real-trained classifier.
    Domain(&'a FeatureNet),
}

impl SelectionSpace<'_> {
    /// Features of rows of `size`² pixels in [−1, 1]. The held-out images' are computed
    /// once per training and passed to every [`selection_score`].
    pub(crate) fn features(
        self,
        rows: &[Vec<f32>],
        size: usize,
    ) -> Result<Vec<Vec<f32>>, StageError> {
        match self {
            Self::Pixels => Ok(pixel_features(rows, size)),
            Self::Domain(net) => {
                let gray: Vec<Vec<u8>> = rows.iter().map(|row| to_u8(row)).collect();
                net.embed_gray(&gray, size)
            }
        }
    }
}

/// Loads the `features` model a generator scores its checkpoints with. A model without a
/// holdout would score nothing, so it is refused rather than ignored.
pub(crate) fn load_selection_net(
    features: Option<&Path>,
    holdout: f64,
    device: &SelectedDevice,
) -> Result<Option<FeatureNet>, StageError> {
    match features {
        None => Ok(None),
        Some(_) if holdout == 0.0 => Err(StageError::InvalidConfig(
            "use a `features` model only with selection.holdout above 0: with no image held out no checkpoint is scored"
                .to_owned(),
        )),
        Some(dir) => FeatureNet::load(dir, device).map(Some),
    }
}

/// The space a generator scores in, given the model [`load_selection_net`] loaded.
pub(crate) fn space_of(net: Option<&FeatureNet>) -> SelectionSpace<'_> {
    net.map_or(SelectionSpace::Pixels, SelectionSpace::Domain)
}

/// A checkpoint's score for one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectionScore {
    /// KID over every drawn image; lower is better.
    pub kid: f64,
    /// Standard deviation of KID over random halves of the drawn images.
    pub spread: f64,
}

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

/// KID between generated images (rows of `size`² values in [−1, 1]) and the held-out real
/// images' features in `space` ([`SelectionSpace::features`]), with its spread.
pub fn selection_score(
    generated: &[Vec<f32>],
    real: &[Vec<f32>],
    size: usize,
    space: SelectionSpace<'_>,
) -> Result<SelectionScore, StageError> {
    let generated = space.features(generated, size)?;
    let kid = mmd2_unbiased(&generated, real)?;
    Ok(SelectionScore {
        kid,
        spread: half_draw_spread(&generated, real)?,
    })
}

/// Standard deviation of MMD² over random halves of `generated` against all of `real`
/// (0 when a half would hold fewer than 2 images).
fn half_draw_spread(generated: &[Vec<f32>], real: &[Vec<f32>]) -> Result<f64, StageError> {
    let half = generated.len() / 2;
    if half < 2 {
        return Ok(0.0);
    }
    // A fixed stream: the drawn images already depend on the seed.
    let mut rng = ChaCha8Rng::seed_from_u64(0x5e1ec7);
    let estimates = (0..SPREAD_HALVES)
        .map(|_| {
            let rows: Vec<Vec<f32>> = index::sample(&mut rng, generated.len(), half)
                .into_iter()
                .map(|i| generated[i].clone())
                .collect();
            mmd2_unbiased(&rows, real)
        })
        .collect::<Result<Vec<f64>, StageError>>()?;
    let n = estimates.len() as f64;
    let mean = estimates.iter().sum::<f64>() / n;
    Ok((estimates.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt())
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
