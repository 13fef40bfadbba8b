//! `augflow explain NODE`.

use std::path::Path;

use super::error::CliError;
use super::render::print_json;
use super::session::NodeArgs;
use crate::runner::{CancelToken, NodeState, explain};

pub fn run(args: &NodeArgs, store: Option<&Path>) -> Result<(), CliError> {
    let (session, target) = args.open(store, "explain")?;
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
