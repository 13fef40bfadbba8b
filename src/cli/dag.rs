//! `augflow dag`.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use super::load::load;
use crate::graph::{to_dot, to_text};

#[derive(Debug, Args)]
pub struct DagArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    /// Graphviz dot instead of text.
    #[arg(long)]
    pub dot: bool,
}

pub fn run(args: &DagArgs) -> u8 {
    let loaded = match load(args.pipeline.as_deref(), None) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let text = if args.dot {
        to_dot(&loaded.graph)
    } else {
        to_text(&loaded.graph)
    };
    print!("{text}");
    exit::OK
}
