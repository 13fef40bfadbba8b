//! Image classifiers on Burn: ResNet-50, EfficientNet-B0/B1 and ConvNeXt-T/S for
//! grayscale images, with seeded, reproducible training and scoring.
//!
//! Layout follows Burn's examples: `config.rs` (typed configs), one file per
//! architecture, `data.rs` (loading and batching), `training.rs` (the loop),
//! `weights.rs` (the artifact on disk).

mod augment;
mod config;
mod convnext;
pub(crate) mod data;
mod efficientnet;
mod eval;
mod layers;
mod model;
mod predict;
pub(crate) mod pretrained;
mod resnet;
mod training;
mod weights;

pub use config::{
    Architecture, AugmentConfig, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, ModelSpec, TrainClassifierConfig,
};
pub use efficientnet::{round_filters, round_repeats};
pub use model::{Classifier, param_count};
pub use predict::{Embeddings, FeatureNet, Predictions, embed, predict};
pub use pretrained::load_pretrained;
pub use training::{EpochRecord, History, TrainProgress, TrainReport, cosine_lr, train_classifier};
pub use weights::{HISTORY_FILE, MODEL_FILE, MODEL_FORMAT, ModelFile, WEIGHTS_FILE, load_model};
