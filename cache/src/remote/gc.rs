//! Garbage collection on a remote: drop entries nobody asked to keep and blobs no kept entry
//! reaches, never anything recent (a teammate may be pushing it: DVC #7610).

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::parallel::try_for_each;
use super::{MAX_MANIFEST_BYTES, ObjectKind, Remote, RemoteError, RemoteObject, TransferError};
use crate::action::ActionEntry;
use crate::artifact::{Artifact, TreeManifest};
use crate::digest::Digest;
use crate::error::{CacheError, IoContext};

/// Deletes run this many at a time: each is one request, and S3 latency dominates.
const DELETE_PARALLEL: usize = 8;

/// What remote gc removed (or, in a dry run, would remove) and kept.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteGcReport {
    pub actions_removed: u64,
    pub blobs_removed: u64,
    /// Bytes of removed blobs.
    pub bytes_freed: u64,
    pub kept_actions: u64,
    pub kept_blobs: u64,
}

/// Keeps the entries in `keep`, every entry modified less than `grace` ago, and every blob
/// those entries reach (manifests are read from the remote and verified); removes the other
/// entries, then the unreachable blobs older than `grace`. A dry run deletes nothing and
/// reports the same. Errors reading a kept entry abort the run, since guessing would delete
/// blobs that are needed; a damaged kept entry or manifest reaches nothing (with a warning).
///
/// `grace` must exceed the longest push: a push uploads blobs before its entry, and skips
/// blobs the remote already has, which gc could remove in between if they were unreachable
/// and old.
pub fn gc_remote(
    remote: &dyn Remote,
    keep: &BTreeSet<Digest>,
    grace: Duration,
    dry_run: bool,
) -> Result<RemoteGcReport, TransferError> {
    let now = SystemTime::now();
    let mut report = RemoteGcReport::default();
    let mut reachable = HashSet::new();
    let mut doomed_actions = Vec::new();
    for obj in remote.list(ObjectKind::Action)? {
        if keep.contains(&obj.digest) || recent(&obj, now, grace) {
            report.kept_actions += 1;
            mark_reachable(remote, &obj.digest, &mut reachable)?;
        } else {
            report.actions_removed += 1;
            doomed_actions.push(obj.digest);
        }
    }
    // Entries go first, so no entry is ever left naming a deleted blob.
    delete_all(remote, ObjectKind::Action, &doomed_actions, dry_run)?;

    let mut doomed_blobs = Vec::new();
    for obj in remote.list(ObjectKind::Blob)? {
        if reachable.contains(&obj.digest) || recent(&obj, now, grace) {
            report.kept_blobs += 1;
        } else {
            report.blobs_removed += 1;
            report.bytes_freed += obj.size;
            doomed_blobs.push(obj.digest);
        }
    }
    delete_all(remote, ObjectKind::Blob, &doomed_blobs, dry_run)?;
    Ok(report)
}

/// Modified less than `grace` ago, or in the future (clock skew: keep when in doubt).
fn recent(obj: &RemoteObject, now: SystemTime, grace: Duration) -> bool {
    now.duration_since(obj.last_modified)
        .map_or(true, |elapsed| elapsed < grace)
}

fn delete_all(
    remote: &dyn Remote,
    kind: ObjectKind,
    digests: &[Digest],
    dry_run: bool,
) -> Result<(), TransferError> {
    if dry_run {
        return Ok(());
    }
    try_for_each(digests, DELETE_PARALLEL, |d| {
        remote.delete(kind, d)?;
        if kind == ObjectKind::Action {
            remote.delete_signature(d)?;
        }
        Ok::<(), super::RemoteError>(())
    })?;
    Ok(())
}

/// Adds every blob the remote entry `key` needs.
fn mark_reachable(
    remote: &dyn Remote,
    key: &Digest,
    reachable: &mut HashSet<Digest>,
) -> Result<(), TransferError> {
    let Some(bytes) = remote.get_action_bytes(key)? else {
        return Ok(());
    };
    let entry: ActionEntry = match serde_json::from_slice(&bytes) {
        Ok(entry) => entry,
        Err(e) => {
            let remote = remote.describe();
            tracing::warn!(%key, %remote, error = %e, "remote gc: unparsable action entry");
            return Ok(());
        }
    };
    for artifact in entry.outputs.values() {
        reachable.insert(artifact.digest());
        if let Artifact::Dir { manifest, .. } = artifact
            && let Some(tree) = fetch_manifest(remote, manifest)?
        {
            reachable.extend(tree.entries.values().map(|e| e.digest));
        }
    }
    Ok(())
}

/// A manifest read from the remote and verified; None (with a warning) if it is missing,
/// does not match its digest, or is unusable.
fn fetch_manifest(
    remote: &dyn Remote,
    digest: &Digest,
) -> Result<Option<TreeManifest>, TransferError> {
    let tmp = tempfile::NamedTempFile::new()
        .map_err(|e| CacheError::io("create a temp file in", &std::env::temp_dir(), e))?;
    match remote.get_blob_to_file(digest, tmp.path(), MAX_MANIFEST_BYTES) {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {
            let remote = remote.describe();
            tracing::warn!(%digest, %remote, "remote gc: manifest of a kept entry is missing");
            return Ok(None);
        }
        // Damaged (a FIFO, a symlink, oversized): it reaches nothing, like a corrupt one.
        Err(e @ RemoteError::Refused { .. }) if !e.is_interrupted() => {
            tracing::warn!(%digest, error = %e, "remote gc: unusable manifest");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    }
    let bytes = std::fs::read(tmp.path()).at("read", tmp.path())?;
    if Digest::of_bytes(&bytes) != *digest {
        let remote = remote.describe();
        tracing::warn!(%digest, %remote, "remote gc: manifest does not match its digest");
        return Ok(None);
    }
    let name = Path::new("objects").join(digest.to_hex());
    match TreeManifest::from_stored_bytes(&bytes, digest, &name) {
        Ok(tree) => Ok(Some(tree)),
        Err(e) => {
            tracing::warn!(%digest, error = %e, "remote gc: unusable manifest");
            Ok(None)
        }
    }
}
