//! `augflow dag`.

use std::path::PathBuf;

use clap::Args;

use super::error::CliError;
use super::session::load;
use crate::graph::{to_dot, to_text};

#[derive(Debug, Args)]
pub struct DagArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    /// Graphviz dot instead of text.
    #[arg(long)]
    pub dot: bool,
}

pub fn run(args: &DagArgs) -> Result<(), CliError> {
    let loaded = load(args.pipeline.as_deref(), None)?;
    let text = if args.dot {
        to_dot(&loaded.graph)
    } else {
        to_text(&loaded.graph)
    };
    print!("{text}");
    Ok(())
}
