//! Metrics computed from predictions; plain functions over label indices and scores.

mod classification;
pub mod quality;
mod roc_auc;

pub use classification::{ClassMetrics, ClassificationMetrics, classification_metrics};
