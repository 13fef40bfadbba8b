//! `augflow explain NODE`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::error::CliError;
use super::render::print_json;
use super::session::load;
use crate::runner::{CancelToken, NodeState, explain};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The node (`stage` or `stage@values`).
    pub node: String,
    /// Pipeline file (default: augflow.yaml).
    #[arg(long, short = 'p')]
    pub pipeline: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ExplainArgs, store: Option<&Path>) -> Result<(), CliError> {
    let loaded = load(args.pipeline.as_deref(), store)?;
    let target = loaded.node(&args.node, "explain")?;
    let session = loaded.open_store()?;
    let explanation = explain(&session.engine(CancelToken::new()), target);
    if args.json {
        print_json(&explanation);
        return Ok(());
    }
    println!("{}", explanation.stage);
    match &explanation.plan.state {
        NodeState::UpToDate => println!("  up to date"),
        NodeState::Restore => {
            println!("  cached; outputs on disk are missing or changed and will be restored")
        }
        NodeState::Stale { reasons } => {
            println!("  stale:");
            for reason in reasons {
                println!("    {reason}");
            }
        }
    }
    match &explanation.previous_key {
        None => println!("  no previous run recorded"),
        Some(previous) => {
            println!("  last run key: {previous}");
            if let Some(key) = &explanation.plan.key {
                println!("  current key:  {key}");
            }
            if explanation.changes.is_empty() {
                println!("  key inputs unchanged since the last run");
            } else {
                println!("  changed since the last run:");
                for change in &explanation.changes {
                    println!("    - {change}");
                }
            }
        }
    }
    Ok(())
}
