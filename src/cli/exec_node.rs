//! `augflow exec-node` (hidden): one node inside a Slurm job. It verifies its inputs
//! against the store, runs the node, and writes a result file the runner reads.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use super::load::{load, open_store};
use super::remote::{RemoteArgs, select_remote};
use crate::kinds::BackendRequest;
use crate::runner::slurm::exec_node;
use crate::runner::{CancelToken, Engine, NodeError};

#[derive(Debug, Args)]
pub struct ExecNodeArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    /// The node to run.
    #[arg(long, value_name = "NODE")]
    pub node: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[arg(long, value_enum, env = "AUGFLOW_BACKEND", default_value_t = BackendRequest::Auto)]
    pub backend: BackendRequest,
}

pub fn run(args: &ExecNodeArgs, store: Option<&std::path::Path>) -> u8 {
    let loaded = match load(args.pipeline.as_deref(), store) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let store = match open_store(&loaded.project) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let Some(index) = loaded.graph.find(&args.node) else {
        eprintln!(
            "error: failed to find node `{}` in {}",
            args.node,
            loaded.graph.pipeline.file.display()
        );
        return exit::INVALID;
    };
    let cancel = CancelToken::new();
    let mut engine = Engine::new(
        &loaded.graph,
        &loaded.project,
        &store,
        &loaded.registry,
        cancel.clone(),
    );
    engine.backend = args.backend;
    match select_remote(&loaded.project, &args.remote) {
        Err(code) => return code,
        Ok(None) => {}
        Ok(Some((_, Ok(link)))) => engine.remote = Some(link),
        Ok(Some((name, Err(err)))) => {
            eprintln!("warning: remote `{name}` is unavailable; going on without it: {err}");
        }
    }
    {
        // scancel sends SIGTERM: stop the node's command and publish nothing.
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || cancel.cancel());
    }
    match exec_node(&engine, index) {
        Ok(result) => {
            for warning in &result.warnings {
                eprintln!("warning: {}: {warning}", args.node);
            }
            let status = result.status.map_or("done", |s| s.as_str());
            eprintln!(
                "augflow: {} {status} in {:.2} s",
                args.node,
                result.duration_ms as f64 / 1000.0
            );
            exit::OK
        }
        Err(NodeError::Cancelled) => exit::INTERRUPTED,
        Err(err) => {
            eprintln!("error: failed to run node `{}`: {}", args.node, err.chain());
            exit::NODE_FAILED
        }
    }
}
