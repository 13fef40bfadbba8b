//! Content-addressed store and action cache for augflow.
//!
//! Content is identified by its blake3 [`Digest`]. A file is an [`Artifact::File`]; a
//! directory is an [`Artifact::Dir`] named by the digest of its [`TreeManifest`]'s canonical
//! JSON. The [`StatCache`] avoids re-hashing unchanged files; the [`Store`] keeps blobs and
//! action entries ([`ActionEntry`]: what a stage produced, by action key) on disk.
//!
//! # On-disk layout
//!
//! ```text
//! <root>/FORMAT                    "augflow-store 1\n"
//! <root>/objects/ab/cdef…          blob named by its digest (first two hex chars shard), mode 0444
//! <root>/ac/ab/<hex>.json          action entry for key <hex> (ActionEntry, JSON)
//! <root>/tmp/                      temp files, renamed into objects/ or ac/ when complete
//! <root>/quarantine/<hex>.<ns>     corrupt blobs (<hex>.json.<ns> for action entries)
//! <root>/locks/ab/<hex>.lock       per-key lock files (never deleted)
//! <root>/projects/<hex>            a project using the store (its records folder's path)
//! ```
//!
//! Every file appears under `objects/`, `ac/` or a materialized destination only through an
//! fsync'd temp file and an atomic rename, so a process killed at any point leaves at most
//! temp files behind (which [`Store::gc`] removes). Blobs are re-hashed whenever they are
//! read or materialized; damaged ones are moved to `quarantine/` and reported, and a damaged
//! or incomplete action entry is a cache miss, never an error.
//!
//! # Remote caches
//!
//! [`remote`] shares blobs and action entries with teammates through a folder or an S3
//! bucket, in the same layout, verifying every blob on the way in and out.
//!
//! # Versioning
//!
//! Each format is versioned separately: the layout by `FORMAT` ([`STORE_FORMAT`]; a store of
//! an unknown format is refused), action entries by their `format` field ([`ACTION_FORMAT`];
//! others are misses), manifests by theirs ([`TREE_FORMAT`], which is part of every
//! directory digest), and the stat cache file by [`STAT_CACHE_FORMAT`] (others are ignored).

mod action;
mod artifact;
mod atomic;
mod digest;
mod error;
mod hashing;
mod meta;
mod producer;
pub mod remote;
mod small_file;
mod stat_cache;
mod store;
mod tree;

pub use action::{ACTION_FORMAT, ActionEntry};
pub use artifact::{Artifact, TREE_FORMAT, TreeEntry, TreeManifest};
pub use digest::{Digest, DigestParseError};
pub use error::CacheError;
pub use hashing::hash_file;
pub use producer::Producer;
pub use small_file::read_small_file;
pub use stat_cache::{DEFAULT_RACY_WINDOW, STAT_CACHE_FORMAT, StatCache, StatCacheStats};
pub use store::{GcReport, KeyLock, STORE_FORMAT, Store, USE_RESOLUTION};

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine shares a Store and a StatCache across threads.
    #[test]
    fn thread_safety() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Store>();
        send_sync::<StatCache>();
        send_sync::<CacheError>();
        send_sync::<KeyLock>();
        send_sync::<remote::DirRemote>();
        send_sync::<remote::S3Remote>();
        send_sync::<remote::TransferError>();
    }
}
