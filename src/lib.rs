//! augflow: declarative, content-hashed pipelines for machine-learning studies.
//!
//! A pipeline file (YAML) declares typed and shell stages; [`spec`] parses and expands it,
//! [`graph`] validates it as a DAG, [`hash`] derives each node's key, [`runner`] runs what
//! misses the content-addressed store of `augflow-cache`. [`cli`] is a thin layer on top.
//!
//! Keys are computed in one place: `runner::key` turns a node and the digests of what it
//! reads into a [`hash::StageKey`]; `docs/caching.md` lists every field.

pub mod cli;
pub mod fsutil;
pub mod graph;
pub mod hash;
pub mod kinds;
pub mod project;
pub mod runner;
pub mod spec;

/// The engine's version, recorded in every action entry.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
