//! Synthetic data in the study: merging it into the training set, and scoring its quality
//! against the real images.

mod memorisation;
mod merge;
mod quality;

pub use memorisation::{
    ClassFidelity, ClosePair, Distances, Memorisation, NEAR_COPY_QUANTILE, class_fidelity,
    memorisation,
};
pub use merge::{MergeConfig, MergeReport, merge_image_sets};
pub use quality::{
    DiversityValue, FeatureSpace, GroupQuality, KidValue, Metric, PrdcValue, QUALITY_VERSION,
    QualityConfig, QualityReport, score_quality,
};
