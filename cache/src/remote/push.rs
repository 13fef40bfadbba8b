//! Pushing an action entry and its blobs to a remote: blobs the remote lacks are uploaded,
//! each hashed as it is sent, and the entry is created last, so a visible entry is always
//! complete; a broken remote entry is healed, replaced or reported (`BrokenEntry`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::parallel::try_for_each;
use super::transfer::{Tracker, TransferProgress, parse_entry};
use super::{Remote, RemoteError, TransferError, validate};
use crate::action::ActionEntry;
use crate::artifact::Artifact;
use crate::digest::Digest;
use crate::error::CacheError;
use crate::store::Store;

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

/// [`push_action_with`] with [`PushOptions::new`]: what a run pushes after each executed
/// node (`augflow push` and `augflow remote repair` set their own options).
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
        bytes: tracker.into_bytes(),
        lacking,
    })
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
