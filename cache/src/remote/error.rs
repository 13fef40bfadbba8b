//! Errors of remotes and of transfers between a remote and the local store. Messages read
//! after "failed to …" and name the remote and the object.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::CacheError;

/// A remote operation that failed. `remote` is [`super::Remote::describe`]; `path` the
/// object's name relative to the remote's root or prefix (e.g. `ac/ab/<hex>.json`).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A file operation on a folder remote failed.
    #[error("{op} {path} on {remote}")]
    Io {
        op: &'static str,
        remote: String,
        path: String,
        #[source]
        source: io::Error,
    },
    /// An S3 request failed (after the client's bounded retries).
    #[error("{op} {path} on {remote}")]
    S3 {
        op: &'static str,
        remote: String,
        path: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("{op} {path} on {remote}: it does not exist")]
    NotFound {
        op: &'static str,
        remote: String,
        path: String,
    },
    /// An object was refused before or while reading it: not a regular file, over its size
    /// cap, too slow, or interrupted by Ctrl-C.
    #[error("{op} {path} on {remote}: {reason}")]
    Refused {
        op: &'static str,
        remote: String,
        path: String,
        reason: super::bounded::Bounded,
    },
    /// Reading or writing a local file during a transfer failed.
    #[error("{op} {path}")]
    Local {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The local file being uploaded did not hash to the digest it was uploaded as; nothing
    /// was published.
    #[error("upload {path} to {remote}: its content does not match digest {digest}")]
    SourceMismatch {
        remote: String,
        path: PathBuf,
        digest: Digest,
    },
    /// The remote's FORMAT names a layout this version does not know.
    #[error(
        "open remote {remote}: {path} says {found:?}, expected \"augflow-remote {}\"",
        super::REMOTE_FORMAT
    )]
    Format {
        remote: String,
        path: String,
        found: String,
    },
    #[error("configure remote {remote}: {reason}")]
    Config { remote: String, reason: String },
    #[error("configure remote {remote}")]
    Client {
        remote: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("start the i/o runtime for remote {remote}")]
    Runtime {
        remote: String,
        #[source]
        source: io::Error,
    },
}

impl RemoteError {
    /// True if the object asked for does not exist on the remote.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RemoteError::NotFound { .. })
    }

    /// True if the transfer stopped for Ctrl-C.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            RemoteError::Refused {
                reason: super::bounded::Bounded::Interrupted,
                ..
            }
        )
    }
}

/// A pull, push or remote gc that failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The local store failed (I/O, or a corrupt local blob, which is quarantined).
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A blob from the remote did not hash to its digest. Its bytes were discarded and the
    /// action entry was not written locally.
    #[error("verify blob {digest} from {remote}: content does not match its digest")]
    Tampered { digest: Digest, remote: String },
    /// The remote's entry for `key` names a blob the remote does not have.
    #[error("download blob {digest} from {remote}: it does not exist (needed by action {key})")]
    MissingBlob {
        digest: Digest,
        key: Digest,
        remote: String,
    },
}
