//! Remote caches shared by a team: a folder ([`DirRemote`]) or an S3 bucket ([`S3Remote`]).
//!
//! # Layout on the remote
//!
//! ```text
//! <prefix>/FORMAT                  "augflow-remote 1\n"
//! <prefix>/objects/ab/cdef…        blob named by its digest, as in the local store
//! <prefix>/ac/ab/<hex>.json        action entry for key <hex> (ActionEntry, JSON)
//! <prefix>/tmp/                    DirRemote only: temp files before their rename
//! ```
//!
//! # Trust
//!
//! Nothing read from a remote is trusted: every blob is re-hashed before it enters the
//! local store ([`pull_action`]), every blob is hashed as it is uploaded ([`push_action`]),
//! and an action entry that does not parse is a miss. Action entries are published last
//! and with a conditional create, so a visible entry always names blobs already uploaded,
//! and two teammates pushing the same key leave one valid entry.

mod bounded;
mod dir;
mod error;
mod gc;
mod layout;
mod parallel;
mod push;
mod s3;
mod s3_blob;
mod signed;
mod stats;
mod transfer;
mod validate;

use std::path::Path;
use std::time::SystemTime;

use crate::digest::Digest;

pub use bounded::{
    Bounded, DIR_TIMEOUT, MAX_ENTRY_BYTES, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES,
    interrupt_transfers,
};
pub use dir::DirRemote;
pub use error::{RemoteError, TransferError};
pub use gc::{RemoteGcReport, gc_remote};
pub use layout::REMOTE_FORMAT;
pub use push::{BrokenEntry, PushOptions, PushOutcome, push_action, push_action_with};
pub use s3::{S3Config, S3Remote};
pub use signed::{SIGNED_BY, SignedRemote, SigningConfig, key_hex, parse_key_hex, public_key};
pub use stats::RemoteStats;
pub use transfer::{
    TransferProgress, pull_action, pull_action_expecting, pull_action_with_progress,
};
pub use validate::{MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_TREE_FILES};

/// The two kinds of objects a remote holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// Content-addressed files under `objects/`.
    Blob,
    /// Action entries under `ac/`.
    Action,
}

/// One object found by [`Remote::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteObject {
    /// The blob's digest, or the action entry's key.
    pub digest: Digest,
    pub size: u64,
    /// As the remote's clock saw it (the server's for S3).
    pub last_modified: SystemTime,
}

/// A remote cache. Implementations are blocking and safe to share between threads; every
/// failure (network, server, permissions) is an `Err`, never a panic, so callers can treat
/// it as a miss.
pub trait Remote: Send + Sync {
    /// e.g. "s3://bucket/prefix (http://127.0.0.1:9000)" or "dir:/mnt/team/augflow".
    fn describe(&self) -> String;

    /// The raw bytes of the action entry for `key`, or None if there is none.
    fn get_action_bytes(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError>;

    /// Conditional create (S3: If-None-Match: *). Ok(true) if created, Ok(false) if an entry
    /// already existed: two teammates pushing the same key leave one valid entry.
    fn put_action_bytes_if_absent(&self, key: &Digest, bytes: &[u8]) -> Result<bool, RemoteError>;

    fn has_blob(&self, digest: &Digest) -> Result<bool, RemoteError>;

    /// Downloads a blob into `dest`, a temp path the caller chose: `dest` is created or
    /// truncated and written in place (never replaced), so an open handle on it sees the
    /// bytes. A missing blob is [`RemoteError::NotFound`]; one that is not a regular file or
    /// sends more than `max` bytes (its declared size) is [`RemoteError::Refused`], and the
    /// download stops there. The caller verifies the content.
    fn get_blob_to_file(&self, digest: &Digest, dest: &Path, max: u64) -> Result<(), RemoteError>;

    /// The signature stored beside the action entry for `key` (`ac/ab/<hex>.sig`), if any.
    fn get_signature_bytes(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let _ = key;
        Ok(None)
    }

    /// Writes (or replaces) the signature of the entry for `key`.
    fn put_signature_bytes(&self, key: &Digest, bytes: &[u8]) -> Result<(), RemoteError> {
        let _ = (key, bytes);
        Err(RemoteError::Config {
            remote: self.describe(),
            reason: "this remote cannot store signatures".into(),
        })
    }

    /// Called by a push for a blob the remote already has, so that gc's grace period counts
    /// from now: the blob may be old and unreachable until this push's entry appears.
    /// `local` holds the same bytes. The default does nothing.
    fn refresh_blob(&self, digest: &Digest, local: &Path) -> Result<(), RemoteError> {
        let _ = (digest, local);
        Ok(())
    }

    /// True if this writer may replace a broken entry on its own (signed mode, with a key
    /// the remote's readers trust); unsigned remotes leave that to `augflow remote repair`.
    fn may_replace_broken(&self) -> bool {
        false
    }

    /// Removes the signature of the entry for `key`; an absent one is not an error.
    fn delete_signature(&self, key: &Digest) -> Result<(), RemoteError> {
        let _ = key;
        Ok(())
    }

    /// Replaces the action entry for `key` unconditionally: only to repair a broken entry.
    fn put_action_bytes(&self, key: &Digest, bytes: &[u8]) -> Result<(), RemoteError> {
        let _ = (key, bytes);
        Err(RemoteError::Config {
            remote: self.describe(),
            reason: "this remote cannot replace entries".into(),
        })
    }

    /// Uploads `src` as blob `digest`, hashing the bytes as they are sent: if they do not
    /// hash to `digest`, nothing is published and the result is
    /// [`RemoteError::SourceMismatch`]. Idempotent: overwriting a blob with the same bytes
    /// is harmless (and repairs a damaged copy).
    fn put_blob_from_file(&self, digest: &Digest, src: &Path) -> Result<(), RemoteError>;

    /// Every object of `kind`. Objects whose names are not digests are skipped.
    fn list(&self, kind: ObjectKind) -> Result<Vec<RemoteObject>, RemoteError>;

    /// Removes an object; removing one that is absent is not an error.
    fn delete(&self, kind: ObjectKind, digest: &Digest) -> Result<(), RemoteError>;

    /// Requests made so far, for benchmarks and reports.
    fn stats(&self) -> RemoteStats;
}
