//! The study report: statistics, tables, plots. `study` turns score artifacts into cells
//! and comparisons, `render` writes them as HTML, CSV and Markdown.

pub mod markup;
pub mod pooled;
pub mod quality_checks;
pub mod reader_page;
pub mod reader_score;
pub mod render;
mod render_pooled;
mod render_quality;
mod runs;
pub mod stats;
pub mod study;
mod svg;

pub use render::PROVENANCE_MARKER;

/// A classifier's per-image test predictions, in its scores folder; the report's per-image
/// paired tests read them.
pub const PREDICTIONS_FILE: &str = "predictions.json";
