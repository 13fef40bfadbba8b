//! Which failures are worth another attempt. A node killed for memory (or, on Slurm, lost
//! with its machine) may well succeed next time: `run --retries N` covers those for every
//! node. A stage's own failure (non-zero exit, an error of its kind) is retried only when
//! the stage asks for it with `retries:`, since a deterministic failure would just fail
//! again.

use super::node_error::NodeError;
use crate::spec::NodeSpec;

/// Why a failure may be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Killed for memory or by the machine (SIGKILL, a GPU out-of-memory error).
    Resources(String),
    /// The stage's own failure.
    Stage(String),
}

/// How many attempts `node` gets for a failure of this cause.
pub fn allowed_attempts(node: &NodeSpec, run_retries: u32, cause: &Cause) -> u32 {
    let stage = node.retries.unwrap_or(0);
    1 + match cause {
        Cause::Resources(_) => stage.max(run_retries),
        Cause::Stage(_) => stage,
    }
}

/// The cause of a failure, or `None` for one that must never be retried (cancellation, a
/// `pull` miss, an input that is not ready).
pub fn classify(err: &NodeError) -> Option<Cause> {
    match err {
        NodeError::Cancelled | NodeError::NotCached | NodeError::InputNotReady { .. } => None,
        NodeError::CommandFailed {
            signal: Some(libc::SIGKILL),
            status,
            ..
        } => Some(Cause::Resources(status.clone())),
        other => {
            let chain = other.chain();
            if mentions_out_of_memory(&chain) {
                Some(Cause::Resources(format!(
                    "out of memory: {}",
                    first_line(&chain)
                )))
            } else {
                Some(Cause::Stage(first_line(&chain).to_owned()))
            }
        }
    }
}

impl Cause {
    pub fn describe(&self) -> &str {
        match self {
            Cause::Resources(reason) | Cause::Stage(reason) => reason,
        }
    }
}

/// CUDA's `out of memory`, CubeCL's `OutOfMemory`, wgpu's `Out of memory`.
fn mentions_out_of_memory(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("out of memory") || lower.contains("outofmemory")
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn failed(signal: Option<i32>) -> NodeError {
        NodeError::CommandFailed {
            status: "exit status 1".to_owned(),
            signal,
            log: PathBuf::from("x.log"),
            tail: String::new(),
        }
    }

    #[test]
    fn sigkill_and_gpu_oom_are_resource_failures() {
        assert!(matches!(
            classify(&failed(Some(libc::SIGKILL))),
            Some(Cause::Resources(_))
        ));
        assert!(matches!(classify(&failed(None)), Some(Cause::Stage(_))));
        assert!(matches!(
            classify(&failed(Some(libc::SIGSEGV))),
            Some(Cause::Stage(_))
        ));
        let oom = NodeError::Panicked {
            kind: "train.classifier".to_owned(),
            message: "CUDA error: OutOfMemory".to_owned(),
        };
        assert!(matches!(classify(&oom), Some(Cause::Resources(_))));
        assert_eq!(classify(&NodeError::Cancelled), None);
    }
}
