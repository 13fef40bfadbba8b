//! Size-capped collection (`augflow gc --max-size`): least-recently-used entries go first.
//!
//! "Used" is the entry file's modification time: [`Store::touch_action`] refreshes it when
//! a run reuses the entry, at most once per [`USE_RESOLUTION`] so that no-op runs stay
//! nearly read-only.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::time::{Duration, SystemTime};

use super::gc::{GcReport, remove, stat, younger_than};
use super::{OBJECTS, Store, read_dir_names};
use crate::digest::Digest;
use crate::error::CacheError;

/// How stale an entry's "last used" time may get before a hit refreshes it.
pub const USE_RESOLUTION: Duration = Duration::from_secs(600);

struct Candidate {
    key: Digest,
    used: SystemTime,
    blobs: Vec<Digest>,
}

struct BlobInfo {
    size: u64,
    young: bool,
    refs: u64,
}

impl Store {
    /// Marks the entry for `key` as used now (best effort: a read-only shared store or a
    /// vanished entry only costs LRU accuracy).
    pub fn touch_action(&self, key: &Digest) {
        let path = self.action_path(key);
        let Ok(meta) = std::fs::metadata(&path) else {
            return;
        };
        if younger_than(&meta, SystemTime::now(), USE_RESOLUTION) {
            return;
        }
        let result = File::open(&path).and_then(|f| f.set_modified(SystemTime::now()));
        match result {
            // A teammate's entry in a group-shared store: only its owner may set its time,
            // so the same bytes are written again, as ours.
            Err(e) if self.group && e.kind() == std::io::ErrorKind::PermissionDenied => {
                let rewritten = std::fs::read(&path)
                    .map_err(|e| CacheError::io("read action entry", &path, e))
                    .and_then(|bytes| {
                        crate::atomic::write_atomic(
                            &self.tmp_dir(),
                            &path,
                            &bytes,
                            self.metadata_mode(),
                        )
                    });
                if let Err(e) = rewritten {
                    tracing::debug!(path = %path.display(), error = %e, "could not mark entry as used");
                }
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "could not mark entry as used");
            }
            Ok(()) => {}
        }
    }

    /// Shrinks the store's blobs to at most `max_bytes`: first blobs no entry reaches, then
    /// the entries not in `keep` in least-recently-used order, each with the blobs only it
    /// reached. Nothing used or written less than `grace` ago is removed, nor anything
    /// `keep` reaches, so the result may stay above `max_bytes` (the report says by how
    /// much through `bytes_left`).
    pub fn evict_to_size(
        &self,
        keep: &BTreeSet<Digest>,
        grace: Duration,
        max_bytes: u64,
        dry_run: bool,
    ) -> Result<GcReport, CacheError> {
        let now = SystemTime::now();
        let mut report = GcReport::default();
        let mut blobs = self.blob_sizes(now, grace)?;
        let mut total: u64 = blobs.values().map(|b| b.size).sum();

        let mut candidates = Vec::new();
        for key in self.list_actions()? {
            let path = self.action_path(&key);
            let Some(meta) = stat(&path)? else { continue };
            let reached = self.entry_blobs(&path)?;
            for digest in &reached {
                if let Some(blob) = blobs.get_mut(digest) {
                    blob.refs += 1;
                }
            }
            if keep.contains(&key) || younger_than(&meta, now, grace) {
                report.kept_actions += 1;
            } else {
                let used = meta.modified().unwrap_or(now);
                candidates.push(Candidate {
                    key,
                    used,
                    blobs: reached,
                });
            }
        }

        let orphans: Vec<Digest> = blobs
            .iter()
            .filter(|(_, b)| b.refs == 0 && !b.young)
            .map(|(d, _)| *d)
            .collect();
        for digest in orphans {
            if total <= max_bytes {
                break;
            }
            total -= self.evict_blob(&digest, &mut blobs, &mut report, dry_run)?;
        }

        candidates.sort_by_key(|c| (c.used, c.key));
        for candidate in candidates {
            if total <= max_bytes {
                report.kept_actions += 1;
                continue;
            }
            report.actions_removed += 1;
            remove(&self.action_path(&candidate.key), dry_run)?;
            for digest in &candidate.blobs {
                let Some(blob) = blobs.get_mut(digest) else {
                    continue;
                };
                blob.refs = blob.refs.saturating_sub(1);
                if blob.refs == 0 && !blob.young {
                    total -= self.evict_blob(digest, &mut blobs, &mut report, dry_run)?;
                }
            }
        }
        report.kept_blobs = blobs.len() as u64;
        report.bytes_left = total;
        Ok(report)
    }

    /// Size, age and (zero) reference count of every blob.
    fn blob_sizes(
        &self,
        now: SystemTime,
        grace: Duration,
    ) -> Result<HashMap<Digest, BlobInfo>, CacheError> {
        let mut blobs = HashMap::new();
        let objects = self.root.join(OBJECTS);
        for shard in read_dir_names(&objects)? {
            for name in read_dir_names(&objects.join(&shard))? {
                let Ok(digest) = Digest::from_hex(&format!("{shard}{name}")) else {
                    continue;
                };
                let Some(meta) = stat(&self.blob_path(&digest))? else {
                    continue;
                };
                blobs.insert(
                    digest,
                    BlobInfo {
                        size: meta.len(),
                        young: younger_than(&meta, now, grace),
                        refs: 0,
                    },
                );
            }
        }
        Ok(blobs)
    }

    /// Removes one blob; returns the bytes it took.
    fn evict_blob(
        &self,
        digest: &Digest,
        blobs: &mut HashMap<Digest, BlobInfo>,
        report: &mut GcReport,
        dry_run: bool,
    ) -> Result<u64, CacheError> {
        let Some(blob) = blobs.remove(digest) else {
            return Ok(0);
        };
        remove(&self.blob_path(digest), dry_run)?;
        report.blobs_removed += 1;
        report.bytes_freed += blob.size;
        Ok(blob.size)
    }
}
