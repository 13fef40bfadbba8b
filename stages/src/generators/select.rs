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

use super::TrainInputs;
use super::images::{ClassImages, load_by_class, to_u8, wanted_classes};
use crate::StageError;
use crate::backend::SelectedDevice;
use crate::classifiers::FeatureNet;
use crate::metrics::quality::mmd2_unbiased;
use crate::rng::permutation;

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
    /// Features of rows of `size`² pixels in [−1, 1] (none for no rows: no holdout). The
    /// held-out images' are computed once per training and passed to every
    /// [`selection_score`].
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

/// What a pixel generator's training starts from: the model checkpoints are scored with
/// (if any), the training images by class at the generator's size, and the indices of the
/// classes to train.
pub(crate) struct TrainingSet {
    pub net: Option<FeatureNet>,
    pub classes: Vec<String>,
    pub groups: Vec<ClassImages>,
    pub wanted: Vec<usize>,
}

impl TrainingSet {
    /// `classes`: the classes to train (default: every class of the set); `holdout`: the
    /// selection's fraction, which a `features` model needs above 0.
    pub(crate) fn load(
        inputs: TrainInputs<'_>,
        size: u32,
        classes: Option<&[String]>,
        holdout: f64,
        device: &SelectedDevice,
    ) -> Result<Self, StageError> {
        let net = load_selection_net(inputs.features, holdout, device)?;
        let (all, groups) = load_by_class(inputs.train, size)?;
        let wanted = wanted_classes(&all, classes)?;
        Ok(Self {
            net,
            classes: all,
            groups,
            wanted,
        })
    }
}

/// A class's rows to train on, and the rows held out for selection.
pub(crate) type Holdout<'i> = (Vec<&'i [f32]>, Vec<Vec<f32>>);

/// A class's rows split by a seeded permutation into rows to train on and rows held out
/// for selection: round(n·`holdout`) but at least 2 of them (none with `holdout` 0), and at
/// least 2 left to train on. `model` names the generator in the error.
pub(crate) fn split_holdout<'i>(
    rows: &'i [Vec<f32>],
    holdout: f64,
    rng: &mut ChaCha8Rng,
    class: &str,
    model: &str,
) -> Result<Holdout<'i>, StageError> {
    let n = rows.len();
    let held = if holdout == 0.0 {
        0
    } else {
        ((n as f64 * holdout).round() as usize).max(2)
    };
    if n < held + 2 {
        return Err(StageError::InvalidConfig(format!(
            "class {class:?} has {n} training images; {model} needs at least {} \
             ({held} held out for checkpoint selection)",
            held + 2
        )));
    }
    let order = permutation(rng, n);
    Ok((
        order[held..].iter().map(|&i| rows[i].as_slice()).collect(),
        order[..held].iter().map(|&i| rows[i].clone()).collect(),
    ))
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
