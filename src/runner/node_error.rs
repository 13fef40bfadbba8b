//! Why one node failed. These end the node, not the run (with `--keep-going`).

use std::path::{Path, PathBuf};

use augflow_cache::CacheError;

use super::key::KeyError;
use crate::kinds::KindError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("compute the key")]
    Key(#[from] KeyError),
    #[error("use the store")]
    Store(#[from] CacheError),
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run the command: {status} (log: {log})\n{tail}")]
    CommandFailed {
        status: String,
        /// The signal that killed it (SIGKILL: likely out of memory, worth a retry).
        signal: Option<i32>,
        log: PathBuf,
        tail: String,
    },
    #[error("find declared output {path}: the command did not write it (log: {log})")]
    OutputMissing { path: PathBuf, log: PathBuf },
    /// A path the node would write, rename or delete goes through a symbolic link.
    #[error("write `{path}` of stage `{stage}`")]
    UnsafePath {
        stage: String,
        path: String,
        #[source]
        source: crate::fsutil::UnsafePath,
    },
    #[error("run kind `{kind}`")]
    Kind {
        kind: String,
        #[source]
        source: KindError,
    },
    #[error("run kind `{kind}`: it panicked: {message}")]
    Panicked { kind: String, message: String },
    #[error("finish: the run was cancelled")]
    Cancelled,
    /// `exec-node`: an ancestor's result is missing from the store.
    #[error(
        "verify the input from `{node}`: its result is not in the store (did its job publish it?)"
    )]
    InputNotReady { node: String },
    /// `pull` only restores: the node is neither in the local store nor on the remote.
    #[error("find it in the local store or on the remote")]
    NotCached,
}

impl NodeError {
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> NodeError {
        NodeError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The whole chain as one line group, for events and logs.
    pub fn chain(&self) -> String {
        augflow_stages::error_chain(self)
    }
}
