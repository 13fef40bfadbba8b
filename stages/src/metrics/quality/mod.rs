//! Quality and diversity metrics for generated images, in plain Rust (f64 throughout).
//!
//! - Feature-space metrics take feature vectors (one `Vec<f32>` per sample, e.g. Inception
//!   pool features) that the caller extracted:
//!   - [`frechet_distance`] (FID when the features are Inception's), as pytorch-fid
//!     computes it;
//!   - [`kid`]: Kernel Inception Distance, the unbiased MMD² over random subsets, as
//!     torch-fidelity computes it, and the single-set estimator [`mmd2_unbiased`];
//!   - [`prdc`]: precision, recall, density and coverage (Naeem et al. 2020).
//! - Pixel-space metrics take grayscale images ([`GrayImage`]):
//!   - [`ms_ssim`] and [`ssim`], as pytorch_msssim computes them;
//!   - [`mean_pairwise_ms_ssim`]: the diversity of a set of generated images (lower is
//!     more diverse).
//!
//! - [`inception`]: the feature extractor for standard FID, pytorch-fid's Inception-v3 on
//!   Burn, with weights from a file (the only part here that is not plain Rust).
//!
//! Reference values from those Python libraries are pinned in
//! `stages/tests/metrics_quality.rs` (script: `bench/reference/quality_reference.py`) and
//! `stages/tests/metrics_inception.rs` (`bench/reference/inception_reference.py`).

mod diversity;
mod features;
mod fid;
mod gray_image;
pub mod inception;
mod kid;
mod ms_ssim;
mod prdc;

pub use diversity::{PairwiseMsSsim, mean_pairwise_ms_ssim};
pub use fid::{FeatureStats, frechet_distance, frechet_distance_from_stats};
pub use gray_image::GrayImage;
pub use kid::{Kid, KidConfig, kid, mmd2_unbiased};
pub use ms_ssim::{MS_SSIM_WEIGHTS, MsSsim, ms_ssim, ms_ssim_scales, ssim};
pub use prdc::{DEFAULT_NEAREST_K, Prdc, prdc};
