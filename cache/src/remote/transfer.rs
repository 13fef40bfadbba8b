//! Moving an action entry and its blobs between a remote and the local store. Every blob
//! is verified on the way (DVC trusted downloads, #5502, and pushes, #10498), and the entry
//! is written last on both sides, so a visible entry is always complete.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

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

/// What [`push_action`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushOutcome {
    pub blobs_uploaded: u64,
    pub bytes_uploaded: u64,
    /// Blobs the remote already had.
    pub blobs_present: u64,
    /// False if the remote already had an entry for the key.
    pub entry_created: bool,
    /// The remote's entry was broken and was replaced by this one.
    pub entry_repaired: bool,
    /// The remote's entry is broken and was left alone (unsigned mode: see `repair`).
    pub remote_entry_broken: bool,
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

/// How a push treats a remote entry for its key that is broken (unusable, or naming blobs
/// the remote lacks and this store cannot upload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokenEntry {
    /// Replaced only when the remote can vouch for this writer
    /// ([`Remote::may_replace_broken`]: signed mode with a trusted key); otherwise left
    /// alone with a warning.
    ReplaceIfTrusted,
    /// Replaced whatever the signing mode: `augflow remote repair`, asked for by name.
    Replace,
}

/// How [`push_action_with`] pushes.
pub struct PushOptions<'a> {
    /// Blobs uploaded at once.
    pub parallel: usize,
    pub broken: BrokenEntry,
    /// Called after each blob, uploaded or found present.
    pub progress: &'a (dyn Fn(TransferProgress) + Sync),
}

impl PushOptions<'_> {
    /// A plain push: `parallel` uploads at once, no progress, broken entries replaced only
    /// for a trusted writer.
    pub fn new(parallel: usize) -> Self {
        PushOptions {
            parallel,
            broken: BrokenEntry::ReplaceIfTrusted,
            progress: &|_| {},
        }
    }
}

/// [`push_action_with`] with [`PushOptions::new`]: the push of `augflow push` and of a run
/// that shares its results.
pub fn push_action(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    entry: &ActionEntry,
    parallel: usize,
) -> Result<PushOutcome, TransferError> {
    push_action_with(remote, store, key, entry, &PushOptions::new(parallel))
}

/// Uploads every blob `entry` needs (those the remote lacks), each hashed as it is sent, then
/// the entry with a conditional create. If the remote already has an entry for `key`, the
/// first pusher's entry stands: the blobs it names that this store has are uploaded where
/// the remote lacks them, and if it still names blobs nobody uploaded it is broken. A broken
/// entry is replaced as `options.broken` says; one left alone sets `remote_entry_broken`
/// and a warning says how to `augflow remote repair` it.
/// A local blob found corrupt is quarantined and reported as [`CacheError::Corrupt`].
pub fn push_action_with(
    remote: &dyn Remote,
    store: &Store,
    key: &Digest,
    entry: &ActionEntry,
    options: &PushOptions<'_>,
) -> Result<PushOutcome, TransferError> {
    let &PushOptions {
        parallel,
        broken: when_broken,
        progress,
    } = options;
    let mut outcome = PushOutcome::default();
    let Some(bytes) = remote.get_action_bytes(key)? else {
        upload_entry_blobs(remote, store, entry, parallel, progress, &mut outcome)?;
        outcome.entry_created = remote.put_action_bytes_if_absent(key, &entry_bytes(entry))?;
        return Ok(outcome);
    };
    let theirs = parse_entry(remote, key, &bytes)
        .filter(|theirs| validate::check_entry(theirs, None).is_ok());
    let broken = match &theirs {
        // Heal what we can: upload the blobs of their entry that we have and it lacks.
        Some(theirs) => {
            let needed = local_blobs(store, theirs)?;
            let done = upload_missing(remote, store, &needed, parallel, progress)?;
            outcome.add(&done, needed.available.len());
            done.lacking
        }
        None => true,
    };
    if !broken {
        return Ok(outcome);
    }
    let may_replace = match when_broken {
        BrokenEntry::ReplaceIfTrusted => remote.may_replace_broken(),
        BrokenEntry::Replace => true,
    };
    if !may_replace {
        let remote = remote.describe();
        tracing::warn!(
            %key, %remote,
            "the remote's entry is broken (unusable, or naming blobs it lacks) and is left \
             alone; `augflow remote repair` replaces it with this one"
        );
        outcome.remote_entry_broken = true;
        return Ok(outcome);
    }
    upload_entry_blobs(remote, store, entry, parallel, progress, &mut outcome)?;
    remote.put_action_bytes(key, &entry_bytes(entry))?;
    outcome.entry_repaired = true;
    Ok(outcome)
}

/// Uploads what `entry` needs and the remote lacks; every blob must be in the local store.
fn upload_entry_blobs(
    remote: &dyn Remote,
    store: &Store,
    entry: &ActionEntry,
    parallel: usize,
    progress: &(dyn Fn(TransferProgress) + Sync),
    outcome: &mut PushOutcome,
) -> Result<(), TransferError> {
    let needed = local_blobs(store, entry)?;
    if let Some(digest) = needed.absent.first() {
        return Err(CacheError::MissingBlob { digest: *digest }.into());
    }
    let done = upload_missing(remote, store, &needed, parallel, progress)?;
    outcome.add(&done, needed.available.len());
    Ok(())
}

impl PushOutcome {
    fn add(&mut self, done: &Uploaded, considered: usize) {
        self.blobs_uploaded += done.blobs;
        self.bytes_uploaded += done.bytes;
        self.blobs_present += considered as u64 - done.blobs;
    }
}

fn entry_bytes(entry: &ActionEntry) -> Vec<u8> {
    // Cannot fail: string keys, derived impls and serde_json values only.
    serde_json::to_vec_pretty(entry).expect("action entry serializes to json")
}

/// The blobs an entry needs, split into those this store has and those it lacks.
struct Needed {
    available: Vec<Digest>,
    absent: Vec<Digest>,
}

fn local_blobs(store: &Store, entry: &ActionEntry) -> Result<Needed, TransferError> {
    let mut needed = BTreeSet::new();
    let mut absent = Vec::new();
    for artifact in entry.outputs.values() {
        needed.insert(artifact.digest());
        if let Artifact::Dir { manifest, .. } = artifact {
            if !store.has_blob(manifest) {
                absent.push(*manifest);
                continue;
            }
            // Verified read: a corrupt manifest is quarantined and the push fails.
            let tree = store.read_manifest(manifest)?;
            needed.extend(tree.entries.values().map(|e| e.digest));
        }
    }
    let (available, missing): (Vec<Digest>, Vec<Digest>) =
        needed.into_iter().partition(|d| store.has_blob(d));
    absent.extend(missing);
    Ok(Needed { available, absent })
}

/// What [`upload_missing`] did.
struct Uploaded {
    blobs: u64,
    bytes: u64,
    /// The remote lacks a blob this store does not have either.
    lacking: bool,
}

/// Uploads the available blobs the remote lacks; also reports whether the remote lacks any
/// of the absent ones (which then nobody can upload from here).
fn upload_missing(
    remote: &dyn Remote,
    store: &Store,
    needed: &Needed,
    parallel: usize,
    progress: &(dyn Fn(TransferProgress) + Sync),
) -> Result<Uploaded, TransferError> {
    let tracker = Tracker::new(needed.available.len(), progress);
    let uploaded = AtomicU64::new(0);
    try_for_each(&needed.available, parallel, |d| {
        if remote.has_blob(d)? {
            remote.refresh_blob(d, &store.blob_path(d))?;
            tracker.step(0);
            return Ok(());
        }
        let size = upload_blob(remote, store, d)?;
        uploaded.fetch_add(1, Ordering::Relaxed);
        tracker.step(size);
        Ok::<(), TransferError>(())
    })?;
    let mut lacking = false;
    for d in &needed.absent {
        if !remote.has_blob(d)? {
            lacking = true;
            break;
        }
    }
    Ok(Uploaded {
        blobs: uploaded.into_inner(),
        bytes: tracker.bytes.into_inner(),
        lacking,
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
