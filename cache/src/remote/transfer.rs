//! Moving an action entry and its blobs between a remote and the local store. Every blob
//! is verified on the way (DVC trusted downloads, #5502, and pushes, #10498), and the entry
//! is written last on both sides, so a visible entry is always complete.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use super::parallel::try_for_each;
use super::{Remote, RemoteError, TransferError};
use crate::action::{ACTION_FORMAT, ActionEntry};
use crate::artifact::Artifact;
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

/// What [`push_action`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushOutcome {
    pub blobs_uploaded: u64,
    pub bytes_uploaded: u64,
    /// Blobs the remote already had.
    pub blobs_present: u64,
    /// False if the remote already had an entry for the key (then nothing was uploaded).
    pub entry_created: bool,
}

/// Fetches the remote entry for `key` and every blob it needs into `store`, verifying each
/// blob before it enters `objects/`; the local entry is written last. Returns None if the
/// remote has no usable entry (absent, unparsable, another format, unusable manifest).
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

/// [`pull_action`], calling `progress` after each file blob (manifests are fetched first and
/// not counted).
pub fn pull_action_with_progress(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    parallel: usize,
    progress: &(dyn Fn(TransferProgress) + Sync),
) -> Result<Option<ActionEntry>, TransferError> {
    let Some(bytes) = remote.get_action_bytes(key)? else {
        return Ok(None);
    };
    let Some(entry) = parse_entry(remote, key, &bytes) else {
        return Ok(None);
    };
    let mut needed = BTreeSet::new();
    let mut manifests = BTreeSet::new();
    for artifact in entry.outputs.values() {
        match artifact {
            Artifact::File { digest, .. } => needed.insert(*digest),
            Artifact::Dir { manifest, .. } => manifests.insert(*manifest),
        };
    }
    // Manifests first, one at a time (they are small): they name the other blobs.
    for manifest in &manifests {
        let Some(files) = manifest_files(remote, store, key, manifest)? else {
            return Ok(None);
        };
        needed.extend(files);
    }
    let missing: Vec<Digest> = needed.into_iter().filter(|d| !store.has_blob(d)).collect();
    let tracker = Tracker::new(missing.len(), progress);
    try_for_each(&missing, parallel, |d| {
        let size = fetch_blob(remote, store, key, d)?;
        tracker.step(size);
        Ok::<(), TransferError>(())
    })?;
    store.put_action(key, &entry)?;
    Ok(Some(entry))
}

/// Uploads every blob `entry` needs (those the remote lacks), each hashed as it is sent, then
/// the entry with a conditional create. If the remote already has an entry for `key`,
/// nothing is uploaded and `entry_created` is false: the first pusher's entry stands.
/// A local blob found corrupt is quarantined and reported as [`CacheError::Corrupt`].
pub fn push_action(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    entry: &ActionEntry,
    parallel: usize,
) -> Result<PushOutcome, TransferError> {
    push_action_with_progress(remote, store, key, entry, parallel, &|_| {})
}

/// [`push_action`], calling `progress` after each blob.
pub fn push_action_with_progress(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    entry: &ActionEntry,
    parallel: usize,
    progress: &(dyn Fn(TransferProgress) + Sync),
) -> Result<PushOutcome, TransferError> {
    if remote.get_action_bytes(key)?.is_some() {
        return Ok(PushOutcome::default());
    }
    let mut needed = BTreeSet::new();
    for artifact in entry.outputs.values() {
        needed.insert(artifact.digest());
        if let Artifact::Dir { manifest, .. } = artifact {
            // Verified read: a corrupt manifest is quarantined and the push fails.
            let tree = store.read_manifest(manifest)?;
            needed.extend(tree.entries.values().map(|e| e.digest));
        }
    }
    let blobs: Vec<Digest> = needed.into_iter().collect();
    let tracker = Tracker::new(blobs.len(), progress);
    let uploaded = AtomicU64::new(0);
    try_for_each(&blobs, parallel, |d| {
        if remote.has_blob(d)? {
            tracker.step(0);
            return Ok(());
        }
        let size = upload_blob(remote, store, d)?;
        uploaded.fetch_add(1, Ordering::Relaxed);
        tracker.step(size);
        Ok::<(), TransferError>(())
    })?;
    // Cannot fail: string keys, derived impls and serde_json values only.
    let bytes = serde_json::to_vec_pretty(entry).expect("action entry serializes to json");
    let entry_created = remote.put_action_bytes_if_absent(key, &bytes)?;
    let blobs_uploaded = uploaded.into_inner();
    Ok(PushOutcome {
        blobs_uploaded,
        bytes_uploaded: tracker.bytes.into_inner(),
        blobs_present: blobs.len() as u64 - blobs_uploaded,
        entry_created,
    })
}

/// An entry we can use, or None (with a warning): the remote is shared, so a teammate's
/// newer tool version or a damaged object must only cost a rebuild.
fn parse_entry(remote: &dyn Remote, key: &Digest, bytes: &[u8]) -> Option<ActionEntry> {
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

/// The file digests listed by a manifest, fetching and verifying it first if needed.
/// None if it is unusable (unknown format, unsafe names, not JSON).
fn manifest_files(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    manifest: &Digest,
) -> Result<Option<Vec<Digest>>, TransferError> {
    // Twice at most: a corrupt local copy is quarantined by read_manifest, then re-fetched.
    for _ in 0..2 {
        if !store.has_blob(manifest) {
            fetch_blob(remote, store, key, manifest)?;
        }
        match store.read_manifest(manifest) {
            Ok(tree) => return Ok(Some(tree.entries.values().map(|e| e.digest).collect())),
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

/// Downloads a blob into the store's tmp/, verifies it and publishes it. Returns its size.
fn fetch_blob(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    digest: &Digest,
) -> Result<u64, TransferError> {
    let tmp = store.temp_file()?;
    remote
        .get_blob_to_file(digest, tmp.path())
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

/// Uploads a local blob; the backend hashes what it sends. Returns its size.
fn upload_blob(remote: &dyn Remote, store: &Store, digest: &Digest) -> Result<u64, TransferError> {
    let path = store.blob_path(digest);
    let size = match std::fs::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CacheError::MissingBlob { digest: *digest }.into());
        }
        Err(e) => {
            return Err(CacheError::Io {
                op: "stat",
                path,
                source: e,
            }
            .into());
        }
    };
    match remote.put_blob_from_file(digest, &path) {
        Ok(()) => Ok(size),
        Err(RemoteError::SourceMismatch { .. }) => {
            tracing::warn!(%digest, "local blob is corrupt; not uploaded");
            Err(store.corrupt_blob(digest)?.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Counts finished blobs and bytes across workers and reports each step.
struct Tracker<'a> {
    done: AtomicUsize,
    bytes: AtomicU64,
    total: usize,
    hook: &'a (dyn Fn(TransferProgress) + Sync),
}

impl<'a> Tracker<'a> {
    fn new(total: usize, hook: &'a (dyn Fn(TransferProgress) + Sync)) -> Tracker<'a> {
        Tracker {
            done: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            total,
            hook,
        }
    }

    fn step(&self, bytes: u64) {
        let blobs_done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes_transferred = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        (self.hook)(TransferProgress {
            blobs_done,
            blobs_total: self.total,
            bytes_transferred,
        });
    }
}
