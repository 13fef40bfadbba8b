//! `augflow explain NODE`.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use super::load::{load, open_store};
use crate::runner::{CancelToken, Engine, NodeState, explain};

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

pub fn run(args: &ExplainArgs, store: Option<&std::path::Path>) -> u8 {
    let loaded = match load(args.pipeline.as_deref(), store) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let Some(target) = loaded.graph.find(&args.node) else {
        eprintln!(
            "error: failed to explain `{}`: no node has that name (see `augflow dag`)",
            args.node
        );
        return exit::INVALID;
    };
    let store = match open_store(&loaded.project) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let engine = Engine::new(
        &loaded.graph,
        &loaded.project,
        &store,
        &loaded.registry,
        CancelToken::new(),
    );
    let explanation = explain(&engine, target);
    if args.json {
        if let Ok(text) = serde_json::to_string_pretty(&explanation) {
            println!("{text}");
        }
        return exit::OK;
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
    exit::OK
}
