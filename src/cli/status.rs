//! `augflow status` (and the body of `run --dry-run`).

use std::path::{Path, PathBuf};

use clap::Args;
use petgraph::graph::NodeIndex;

use super::error::CliError;
use super::session::Session;
use crate::runner::{CancelToken, Engine, NodeState, plan, selected_nodes};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    /// One JSON object per node on stdout.
    #[arg(long)]
    pub json: bool,
    /// Exit with 1 when any node is stale (for scripts and CI).
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: &StatusArgs, store: Option<&Path>) -> Result<(), CliError> {
    let session = Session::open(args.pipeline.as_deref(), store)?;
    print_plan(
        &session.engine(CancelToken::new()),
        &[],
        args.json,
        args.check,
    )
}

/// Prints each node's planned state; with `fail_if_stale`, fails when any is stale.
pub fn print_plan(
    engine: &Engine<'_>,
    targets: &[NodeIndex],
    json: bool,
    fail_if_stale: bool,
) -> Result<(), CliError> {
    let nodes = selected_nodes(engine, targets);
    let plans = plan(engine, &nodes);
    let mut stale = 0;
    for plan in &plans {
        if matches!(plan.state, NodeState::Stale { .. }) {
            stale += 1;
        }
        if json {
            if let Ok(line) = serde_json::to_string(plan) {
                println!("{line}");
            }
            continue;
        }
        match &plan.state {
            NodeState::UpToDate => println!("up to date  {}", plan.stage),
            NodeState::Restore => println!(
                "restore     {} (outputs missing or changed on disk)",
                plan.stage
            ),
            NodeState::Stale { reasons } => {
                println!("stale       {}", plan.stage);
                for reason in reasons {
                    println!("              {reason}");
                }
            }
        }
    }
    if !json {
        println!("{} node(s), {stale} stale", plans.len());
    }
    if fail_if_stale && stale > 0 {
        Err(CliError::Stale)
    } else {
        Ok(())
    }
}
