//! `augflow exec-node` (hidden): one node inside a Slurm job. It verifies its inputs
//! against the store, runs the node, and writes a result file the runner reads.

use std::path::{Path, PathBuf};

use clap::Args;

use super::error::CliError;
use super::session::{RemoteArgs, Session};
use crate::kinds::BackendRequest;
use crate::runner::slurm::exec_node;
use crate::runner::{CancelToken, NodeError};

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
    /// Which attempt this job is: the runner submits a job lost with its machine again.
    #[arg(long, default_value_t = 1)]
    pub attempt: u32,
}

pub fn run(args: &ExecNodeArgs, store: Option<&Path>) -> Result<(), CliError> {
    let session = Session::open(args.pipeline.as_deref(), store)?;
    let index = session.graph.find(&args.node).ok_or_else(|| {
        CliError::invalid(format!(
            "find node `{}` in {}",
            args.node,
            session.graph.pipeline.file.display()
        ))
    })?;
    let cancel = CancelToken::new();
    let mut engine = session.engine(cancel.clone());
    engine.backend = args.backend;
    if let Some(warning) = session.attach_remote(&mut engine, &args.remote)? {
        eprintln!("warning: {warning}");
    }
    {
        // scancel sends SIGTERM: stop the node's command and publish nothing.
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || cancel.cancel());
    }
    match exec_node(&engine, index, args.attempt) {
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
            Ok(())
        }
        Err(NodeError::Cancelled) => Err(CliError::Interrupted),
        Err(err) => Err(CliError::failed(format!(
            "run node `{}`: {}",
            args.node,
            err.chain()
        ))),
    }
}
