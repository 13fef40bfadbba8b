//! Garbage collection: drop action entries not asked for and the blobs nobody needs.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, Metadata};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::blob::BlobState;
use super::{OBJECTS, QUARANTINE, Store, TMP, read_dir_names};
use crate::action::ActionEntry;
use crate::artifact::{Artifact, TreeManifest};
use crate::atomic::TEMP_PREFIX;
use crate::digest::Digest;
use crate::error::{CacheError, IoContext};

/// Temp files untouched this long belong to dead processes.
const TEMP_MAX_AGE: Duration = Duration::from_secs(3600);

/// What gc removed (or, in a dry run, would remove) and kept.
#[derive(Debug, Default, Clone, Serialize)]
pub struct GcReport {
    pub actions_removed: u64,
    pub blobs_removed: u64,
    /// Bytes of removed blobs, temps and quarantined files.
    pub bytes_freed: u64,
    pub temps_removed: u64,
    pub quarantine_removed: u64,
    pub kept_actions: u64,
    pub kept_blobs: u64,
    /// Bytes of blobs left in the store (size-capped collection only).
    pub bytes_left: u64,
}

impl Store {
    /// Keeps the entries in `keep` and the blobs they reach; removes other entries,
    /// unreachable blobs, stale temps and quarantined files. Anything modified less than
    /// `grace` ago is kept (with what it reaches), so a build running concurrently does not
    /// lose blobs it has stored but not yet published an entry for.
    pub fn gc(
        &self,
        keep: &BTreeSet<Digest>,
        grace: Duration,
        dry_run: bool,
    ) -> Result<GcReport, CacheError> {
        let now = SystemTime::now();
        let mut report = GcReport::default();
        let mut reachable = HashSet::new();

        for key in self.list_actions()? {
            let path = self.action_path(&key);
            let Some(meta) = stat(&path)? else { continue };
            if keep.contains(&key) || younger_than(&meta, now, grace) {
                report.kept_actions += 1;
                self.mark_reachable(&path, &mut reachable)?;
            } else {
                report.actions_removed += 1;
                remove(&path, dry_run)?;
            }
        }

        let objects = self.root.join(OBJECTS);
        for shard in read_dir_names(&objects)? {
            for name in read_dir_names(&objects.join(&shard))? {
                let Ok(digest) = Digest::from_hex(&format!("{shard}{name}")) else {
                    continue;
                };
                let path = self.blob_path(&digest);
                let Some(meta) = stat(&path)? else { continue };
                if reachable.contains(&digest) || younger_than(&meta, now, grace) {
                    report.kept_blobs += 1;
                } else {
                    report.blobs_removed += 1;
                    report.bytes_freed += meta.len();
                    remove(&path, dry_run)?;
                }
            }
        }

        let tmp = self.root.join(TMP);
        // Only names this crate creates: a foreign file is never deleted.
        for name in read_dir_names(&tmp)? {
            if !name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let path = tmp.join(name);
            let Some(meta) = stat(&path)? else { continue };
            if !younger_than(&meta, now, grace.max(TEMP_MAX_AGE)) {
                report.temps_removed += 1;
                report.bytes_freed += meta.len();
                remove(&path, dry_run)?;
            }
        }

        let quarantine = self.root.join(QUARANTINE);
        for name in read_dir_names(&quarantine)? {
            if !is_quarantine_name(&name) {
                continue;
            }
            let path = quarantine.join(&name);
            let Some(meta) = stat(&path)? else { continue };
            if !quarantined_recently(&name, &meta, now, grace) {
                report.quarantine_removed += 1;
                report.bytes_freed += meta.len();
                remove(&path, dry_run)?;
            }
        }
        Ok(report)
    }

    /// Adds every blob the entry at `path` needs.
    fn mark_reachable(
        &self,
        path: &Path,
        reachable: &mut HashSet<Digest>,
    ) -> Result<(), CacheError> {
        reachable.extend(self.entry_blobs(path)?);
        Ok(())
    }

    /// Every blob the entry at `path` needs (manifests and their files). Damaged entries or
    /// manifests reach nothing; I/O errors abort, since guessing would delete blobs that
    /// are needed.
    pub(super) fn entry_blobs(&self, path: &Path) -> Result<Vec<Digest>, CacheError> {
        let mut blobs = Vec::new();
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(blobs),
            Err(e) => return Err(CacheError::io("read action entry", path, e)),
        };
        let entry: ActionEntry = match serde_json::from_slice(&bytes) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "gc: unparsable action entry");
                return Ok(blobs);
            }
        };
        for artifact in entry.outputs.values() {
            blobs.push(artifact.digest());
            if let Artifact::Dir { manifest, .. } = artifact {
                // No quarantining here: a dry run must change nothing.
                let BlobState::Good(bytes) = self.load_blob(manifest)? else {
                    continue;
                };
                let blob = self.blob_path(manifest);
                match TreeManifest::from_stored_bytes(&bytes, manifest, &blob) {
                    Ok(tree) => blobs.extend(tree.entries.values().map(|e| e.digest)),
                    Err(e) => {
                        tracing::warn!(manifest = %manifest, error = %e, "gc: unusable manifest")
                    }
                }
            }
        }
        Ok(blobs)
    }
}

/// Metadata without following links; None if the file vanished meanwhile.
pub(super) fn stat(path: &Path) -> Result<Option<Metadata>, CacheError> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CacheError::io("stat", path, e)),
    }
}

/// Modified less than `age` ago (or in the future, or unknown: keep when in doubt).
pub(super) fn younger_than(meta: &Metadata, now: SystemTime, age: Duration) -> bool {
    meta.modified()
        .ok()
        .and_then(|t| now.duration_since(t).ok())
        .is_none_or(|elapsed| elapsed < age)
}

/// `<hex>.<nanos>` (a blob) or `<hex>.json.<nanos>` (an action entry), as
/// [`Store::quarantine`] names them.
fn is_quarantine_name(name: &str) -> bool {
    let Some((stem, nanos)) = name.rsplit_once('.') else {
        return false;
    };
    let hex = stem.strip_suffix(".json").unwrap_or(stem);
    !nanos.is_empty() && nanos.bytes().all(|b| b.is_ascii_digit()) && Digest::from_hex(hex).is_ok()
}

/// Quarantined less than `grace` ago, judging by the `.<unix_nanos>` suffix (rename keeps
/// the original mtime, so that says nothing about when it was quarantined).
fn quarantined_recently(name: &str, meta: &Metadata, now: SystemTime, grace: Duration) -> bool {
    let when = name
        .rsplit_once('.')
        .and_then(|(_, n)| n.parse::<u64>().ok())
        .map(|n| UNIX_EPOCH + Duration::from_nanos(n));
    match when {
        Some(t) => now
            .duration_since(t)
            .map_or(true, |elapsed| elapsed < grace),
        None => younger_than(meta, now, grace),
    }
}

pub(super) fn remove(path: &Path, dry_run: bool) -> Result<(), CacheError> {
    if dry_run {
        return Ok(());
    }
    let result = if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other.at("remove", path),
    }
}
