//! The study report: statistics, tables, plots.

pub mod stats;
