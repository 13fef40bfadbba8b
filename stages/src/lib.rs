//! Machine-learning stages for augflow: plain, typed stage functions that the engine
//! adapts into content-hashed pipeline stages.
//!
//! - [`image_set`]: the on-disk image-set artifact (`images/<class>/*.png` + `images.json`)
//!   shared by every data stage.
//! - [`phantom`]: the embedded default data set, a deterministic procedural generator of
//!   chest-radiograph-like images, so a new user can run a study without downloading data.
//! - [`data`]: loaders that turn a user's folders, CSV lists or public data sets
//!   (PNG, JPEG, DICOM) into image sets.
//! - [`split`]: the patient-level train/val/test split (fractions or k folds).
//! - [`metrics`]: classification metrics (accuracy, balanced accuracy, per-class
//!   precision/recall/F1, confusion matrix, ROC AUC).
//! - [`classifiers`]: ResNet-50, EfficientNet-B0/B1 and ConvNeXt-T/S on Burn: seeded,
//!   reproducible training and scoring.
//! - [`generators`]: the class-conditional GAN, the per-class DDPM and class-prompted latent
//!   diffusion (base, fine-tune, LoRA, DreamBooth) that make synthetic
//!   training images, with checkpoints chosen on held-out real training images, and
//!   sampling N images per class.
//! - [`synthetic`]: merging synthetic images into a training set and scoring their quality.
//! - [`sd`]: Stable Diffusion v1.x from the diffusers folder layout: tokenizer, text
//!   encoder, VAE, U-Net and samplers, each proven against diffusers/transformers.
//! - [`backend`]: the one place that picks Burn's device (wgpu on a real GPU, else CPU).
//! - [`config`]: [`StageConfig`], what every stage's config is: parsed once from a
//!   pipeline's params, validated once.

/// Multi-head attention's head split and softmax-weighted merge, shared by every model.
pub(crate) mod attention;
pub mod backend;
pub mod classifiers;
pub mod config;
pub mod data;
pub mod generators;
pub mod image_set;
/// Seeded weight initialisation shared by every model (classifiers and generators).
pub(crate) mod init;
pub mod metrics;
pub mod phantom;
pub mod report;
/// Keyed random streams: the seeding scheme of training, augmentation and sampling.
pub(crate) mod rng;
pub mod sd;
pub mod split;
/// FNV-1a and splitmix64: what every seeded stream (training, split, phantom) is keyed with.
mod stable_hash;
mod stage_io;
pub mod synthetic;

mod error;
mod json_file;
mod weights;

pub use config::{ConfigError, StageConfig};
pub use error::{StageError, error_chain};
pub use stage_io::StageIo;

/// Version of the phantom generator's output.
///
/// Bump this whenever [`phantom::generate_phantom`] would write different bytes for the
/// same config and seed: it is part of the cache key, so forgetting it would let caches
/// serve images from the old generator.
pub const PHANTOM_VERSION: u32 = 1;

/// Version of the loaders' output ([`data`]).
///
/// Bump this whenever a loader would write different bytes or records for the same input
/// files and config (decoding, resizing, naming, label or patient rules).
pub const DATA_VERSION: u32 = 1;

/// Version of the patient split's output ([`split::split_patient`]).
///
/// Bump this whenever the same manifest, config and seed would put any patient into
/// another part.
pub const SPLIT_VERSION: u32 = 1;

/// Version of the classifier stages' output ([`classifiers`]).
///
/// Bump this whenever the same config, data, seed and backend would give different
/// weights, history or predictions (architecture, initialisation, augmentation, loop)
/// (2: default augmentation without flips, close to the study's "strong" set).
pub const CLASSIFIER_VERSION: u32 = 2;

/// Version of the generator stages' output ([`generators`]): training, selection and
/// sampling.
///
/// Bump this whenever the same config, data, seed and backend would give different
/// weights, selected checkpoints or sampled images (2: `hflip` off by default; `sample`
/// with `sampler: ddpm` honours `steps` as diffusers' respacing does).
pub const GENERATOR_VERSION: u32 = 2;

/// Version of the latent diffusion stages' output ([`generators::latent`]): the
/// autoencoder, the base model and its fine-tune, LoRA and DreamBooth adaptations, and
/// sampling from latent generators (part of the `sample` kind's version too).
///
/// Bump this whenever the same config, data, seed and backend would give different
/// weights, artifacts or sampled images (2: `hflip` trains on the latents of mirrored
/// images instead of mirrored latents; 3: `hflip` off by default).
pub const LATENT_VERSION: u32 = 3;

/// Version of the Stable Diffusion stages' output ([`generators::sd`]): the import and
/// the adaptations of an imported SD.
///
/// Bump this whenever the same folder, config, data, seed and backend would give other
/// artifact bytes.
pub const SD_VERSION: u32 = 1;
