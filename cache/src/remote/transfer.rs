//! Moving an action entry and its blobs between a remote and the local store. Every blob
//! is verified on the way (DVC trusted downloads, #5502, and pushes, #10498), and the entry
//! is written last on both sides, so a visible entry is always complete.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::bounded::{Bounded, MAX_MANIFEST_BYTES};
use super::parallel::try_for_each;
use super::{Remote, RemoteError, TransferError, validate};
use crate::action::{ACTION_FORMAT, ActionEntry};
use crate::artifact::{Artifact, TreeManifest};
use crate::digest::Digest;
use crate::error::CacheError;
use crate::store::{Store, is_unusable_blob};

/// Reported after each blob of a pull or push, transferred or skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferProgress {
    pub blobs_done: usize,
    pub blobs_total: usize,
    /// Bytes actually sent or received so far; skipped blobs add nothing.
    pub bytes_transferred: u64,
}

/// Fetches the remote entry for `key` and every blob it needs into `store`, verifying each
/// blob before it enters `objects/`; the local entry is written last. Returns None if the
/// remote has no usable entry (absent, unparsable, another format, no outputs, an
/// unrestorable manifest, a blob that is not a regular file or exceeds its declared size).
/// A blob with wrong bytes is [`TransferError::Tampered`]: it is discarded and no entry is
/// written (blobs already verified stay: they are valid content).
pub fn pull_action(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    parallel: usize,
) -> Result<Option<ActionEntry>, TransferError> {
    pull_action_with_progress(remote, store, key, parallel, &|_| {})
}

/// [`pull_action`] for a node that declares exactly the outputs `expected`: an entry naming
/// others is a miss, and nothing of it reaches the local store.
pub fn pull_action_expecting(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    parallel: usize,
    expected: &BTreeSet<String>,
) -> Result<Option<ActionEntry>, TransferError> {
    pull_checked(remote, store, key, parallel, Some(expected), &|_| {})
}

/// [`pull_action`], calling `progress` after each file blob (manifests are fetched first and
/// not counted).
pub fn pull_action_with_progress(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    parallel: usize,
    progress: &(dyn Fn(TransferProgress) + Sync),
) -> Result<Option<ActionEntry>, TransferError> {
    pull_checked(remote, store, key, parallel, None, progress)
}

fn pull_checked(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    parallel: usize,
    expected: Option<&BTreeSet<String>>,
    progress: &(dyn Fn(TransferProgress) + Sync),
) -> Result<Option<ActionEntry>, TransferError> {
    let Some(bytes) = remote.get_action_bytes(key)? else {
        return Ok(None);
    };
    let Some(entry) = parse_entry(remote, key, &bytes) else {
        return Ok(None);
    };
    if let Err(why) = validate::check_entry(&entry, expected) {
        return Ok(reject(remote, key, &why));
    }
    // Each blob with the most bytes it may have: a download stops there.
    let mut needed = BTreeMap::new();
    for artifact in entry.outputs.values() {
        match artifact {
            Artifact::File { digest, size, .. } => needed.insert(*digest, *size),
            Artifact::Dir { manifest, .. } => {
                // Manifests first, one at a time (they are small): they name the other blobs.
                let tree = match manifest_files(remote, store, key, manifest) {
                    Ok(Some(tree)) => tree,
                    Ok(None) => return Ok(None),
                    Err(e) => return rejected_blob(remote, key, e),
                };
                if let Err(why) = validate::check_tree(&tree, artifact) {
                    return Ok(reject(remote, key, &why));
                }
                needed.extend(tree.entries.values().map(|e| (e.digest, e.size)));
                None
            }
        };
    }
    let missing: Vec<(Digest, u64)> = needed
        .into_iter()
        .filter(|(d, _)| !store.has_blob(d))
        .collect();
    let tracker = Tracker::new(missing.len(), progress);
    let fetched = try_for_each(&missing, parallel, |(d, max)| {
        let size = fetch_blob(remote, store, key, d, *max)?;
        tracker.step(size);
        Ok::<(), TransferError>(())
    });
    if let Err(e) = fetched {
        return rejected_blob(remote, key, e);
    }
    store.put_action(key, &entry)?;
    Ok(Some(entry))
}

/// A miss, with one warning saying why the remote's entry was not used.
fn reject(remote: &dyn Remote, key: &Digest, why: &str) -> Option<ActionEntry> {
    let remote = remote.describe();
    tracing::warn!(%key, %remote, "ignoring remote action entry: the entry {why}");
    None
}

/// A blob refused for what it is (not a regular file, larger than declared) makes the
/// entry a miss; other failures (the remote down, a timeout, Ctrl-C) stay errors.
fn rejected_blob(
    remote: &dyn Remote,
    key: &Digest,
    err: TransferError,
) -> Result<Option<ActionEntry>, TransferError> {
    match err {
        TransferError::Remote(
            e @ RemoteError::Refused {
                reason: Bounded::NotRegular | Bounded::TooLarge { .. },
                ..
            },
        ) => Ok(reject(
            remote,
            key,
            &format!("needs an object refused: failed to {e}"),
        )),
        e => Err(e),
    }
}

/// An entry we can use, or None (with a warning): the remote is shared, so a teammate's
/// newer tool version or a damaged object must only cost a rebuild.
pub(super) fn parse_entry(remote: &dyn Remote, key: &Digest, bytes: &[u8]) -> Option<ActionEntry> {
    match serde_json::from_slice::<ActionEntry>(bytes) {
        Ok(entry) if entry.format == ACTION_FORMAT => Some(entry),
        Ok(entry) => {
            let format = entry.format;
            let remote = remote.describe();
            tracing::warn!(%key, %remote, format, "ignoring remote action entry of another format");
            None
        }
        Err(e) => {
            let remote = remote.describe();
            tracing::warn!(%key, %remote, error = %e, "ignoring unparsable remote action entry");
            None
        }
    }
}

/// A manifest, fetching and verifying it first if needed. None if it is unusable (unknown
/// format, unsafe names, not JSON).
fn manifest_files(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    manifest: &Digest,
) -> Result<Option<TreeManifest>, TransferError> {
    // Twice at most: a corrupt local copy is quarantined by read_manifest, then re-fetched.
    for _ in 0..2 {
        if !store.has_blob(manifest) {
            fetch_blob(remote, store, key, manifest, MAX_MANIFEST_BYTES)?;
        }
        match store.read_manifest(manifest) {
            Ok(tree) => return Ok(Some(tree)),
            Err(CacheError::Corrupt { .. } | CacheError::MissingBlob { .. }) => continue,
            Err(e) if is_unusable_blob(&e) => {
                let remote = remote.describe();
                tracing::warn!(%key, %remote, error = %e, "ignoring remote action entry");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(CacheError::MissingBlob { digest: *manifest }.into())
}

/// Downloads a blob of at most `max` bytes into the store's tmp/, verifies it and
/// publishes it. Returns its size.
fn fetch_blob(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    digest: &Digest,
    max: u64,
) -> Result<u64, TransferError> {
    let tmp = store.temp_file()?;
    remote
        .get_blob_to_file(digest, tmp.path(), max)
        .map_err(|e| match e {
            RemoteError::NotFound { remote, .. } => TransferError::MissingBlob {
                digest: *digest,
                key: *key,
                remote,
            },
            e => e.into(),
        })?;
    match store.publish_verified(tmp, digest)? {
        Some(size) => Ok(size),
        None => {
            let remote = remote.describe();
            tracing::warn!(%digest, %remote, "remote blob does not match its digest; discarded");
            Err(TransferError::Tampered {
                digest: *digest,
                remote,
            })
        }
    }
}

/// Counts finished blobs and bytes across workers and reports each step.
pub(super) struct Tracker<'a> {
    done: AtomicUsize,
    bytes: AtomicU64,
    total: usize,
    hook: &'a (dyn Fn(TransferProgress) + Sync),
}

impl<'a> Tracker<'a> {
    pub(super) fn new(total: usize, hook: &'a (dyn Fn(TransferProgress) + Sync)) -> Tracker<'a> {
        Tracker {
            done: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            total,
            hook,
        }
    }

    /// Bytes transferred over every step.
    pub(super) fn into_bytes(self) -> u64 {
        self.bytes.into_inner()
    }

    pub(super) fn step(&self, bytes: u64) {
        let blobs_done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes_transferred = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        (self.hook)(TransferProgress {
            blobs_done,
            blobs_total: self.total,
            bytes_transferred,
        });
    }
}
