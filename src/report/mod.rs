//! The study report: statistics, tables, plots. `study` turns score artifacts into cells
//! and comparisons, `render` writes them as HTML, CSV and Markdown.

pub mod render;
pub mod stats;
pub mod study;
mod svg;

pub use render::PROVENANCE_MARKER;
