//! Scoring a trained classifier on an image set.

use std::path::Path;

use burn::tensor::Device;
use burn::tensor::activation::softmax;
use serde::Serialize;

use super::Classifier;
use super::data::{LoadedSet, load_image_set, make_batch, resize};
use super::eval::argmax;
use super::weights::load_model;
use crate::StageError;
use crate::backend::SelectedDevice;

/// Images scored per forward pass; inference keeps no activations, so larger is fine.
const PREDICT_BATCH: usize = 16;

/// Per-image predictions, in the image set's manifest order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Predictions {
    /// The model's classes; labels and probability columns index into it.
    pub classes: Vec<String>,
    pub y_true: Vec<usize>,
    pub y_pred: Vec<usize>,
    /// Softmax probabilities, one row per image.
    pub probs: Vec<Vec<f32>>,
}

/// Runs the model in `model_dir` (written by `train_classifier`) on the image set in
/// `images_dir`. Every image's label must be one of the model's classes.
pub fn predict(
    model_dir: &Path,
    images_dir: &Path,
    device: &SelectedDevice,
) -> Result<Predictions, StageError> {
    let (file, model) = load_model(model_dir, &device.device)?;
    let set = load_image_set(images_dir, file.image_size, Some(&file.classes))?;
    let classes = file.classes.len();
    let all: Vec<usize> = (0..set.len()).collect();
    let mut probs = Vec::with_capacity(set.len());
    for indices in all.chunks(PREDICT_BATCH) {
        let batch = make_batch(&set, indices, None, &device.device);
        let values = softmax(model.forward(batch.images), 1)
            .try_into_vec_as::<f32>()
            .map_err(|err| {
                StageError::Backend(format!("read predictions from the device: {err}"))
            })?;
        probs.extend(values.chunks_exact(classes).map(<[f32]>::to_vec));
    }
    Ok(Predictions {
        classes: file.classes,
        y_pred: probs.iter().map(|row| argmax(row)).collect(),
        y_true: set.labels,
        probs,
    })
}

/// Penultimate-layer features of every image of a set, from a trained classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// The model's classes; `labels` index into it.
    pub classes: Vec<String>,
    pub labels: Vec<usize>,
    /// One row of `num_features` values per image, in manifest order.
    pub features: Vec<Vec<f32>>,
}

/// Embeds the image set in `images_dir` with the model in `model_dir` (see
/// [`Classifier::features`](super::Classifier::features)). Every image's label must be one
/// of the model's classes.
pub fn embed(
    model_dir: &Path,
    images_dir: &Path,
    device: &SelectedDevice,
) -> Result<Embeddings, StageError> {
    let (file, model) = load_model(model_dir, &device.device)?;
    let set = load_image_set(images_dir, file.image_size, Some(&file.classes))?;
    let features = features_of(&model, &set, &device.device)?;
    Ok(Embeddings {
        classes: file.classes,
        labels: set.labels,
        features,
    })
}

/// A trained classifier's penultimate layer as a feature map for images held in memory:
/// what generators score their checkpoints in (issue: pooled pixels are close to noise).
pub struct FeatureNet {
    model: Classifier,
    image_size: u32,
    device: Device,
}

impl FeatureNet {
    /// Loads the model in `model_dir` (written by `train_classifier`) onto `device`.
    pub fn load(model_dir: &Path, device: &SelectedDevice) -> Result<Self, StageError> {
        let (file, model) = load_model(model_dir, &device.device)?;
        Ok(Self {
            model,
            image_size: file.image_size,
            device: device.device.clone(),
        })
    }

    /// Features of 8-bit gray images of `size`² pixels, resized to the model's size as the
    /// classifier's own loading does.
    pub fn embed_gray(&self, images: &[Vec<u8>], size: usize) -> Result<Vec<Vec<f32>>, StageError> {
        let target = self.image_size as usize;
        let set = LoadedSet {
            classes: Vec::new(),
            size: target,
            pixels: images
                .iter()
                .map(|image| resize(image, size, size, target))
                .collect(),
            labels: vec![0; images.len()],
        };
        features_of(&self.model, &set, &self.device)
    }
}

/// Penultimate-layer features of every image of `set`, in order.
fn features_of(
    model: &Classifier,
    set: &LoadedSet,
    device: &Device,
) -> Result<Vec<Vec<f32>>, StageError> {
    let width = model.num_features();
    let all: Vec<usize> = (0..set.len()).collect();
    let mut features = Vec::with_capacity(set.len());
    for indices in all.chunks(PREDICT_BATCH) {
        let batch = make_batch(set, indices, None, device);
        let values = model
            .features(batch.images)
            .try_into_vec_as::<f32>()
            .map_err(|err| StageError::Backend(format!("read features from the device: {err}")))?;
        features.extend(values.chunks_exact(width).map(<[f32]>::to_vec));
    }
    Ok(features)
}
