//! The stat cache: remembers file digests by (size, mtime, inode, ctime), as git's index and
//! DVC do, so unchanged files are not hashed again.

use std::collections::BTreeMap;
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::artifact::{Artifact, TreeEntry, TreeManifest};
use crate::atomic;
use crate::digest::Digest;
use crate::error::{CacheError, IoContext};
use crate::hashing::hash_file;
use crate::meta::{self, Stamp};
use crate::tree::walk_tree;

/// Version of the stat cache file; a file with another version is ignored (starts empty).
pub const STAT_CACHE_FORMAT: u32 = 1;

/// Files changed less than this long ago are not recorded: a second write within the
/// filesystem's timestamp granularity would leave the stamp unchanged (git's "racy" files).
pub const DEFAULT_RACY_WINDOW: Duration = Duration::from_secs(2);

/// Counts of lookups since the cache was created or loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatCacheStats {
    /// Files whose digest came from the cache.
    pub hits: u64,
    /// Files that had to be hashed.
    pub misses: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    size: u64,
    mtime_ns: i64,
    inode: u64,
    ctime_ns: i64,
    digest: Digest,
}

impl Entry {
    fn stamp(&self) -> Stamp {
        Stamp {
            size: self.size,
            mtime_ns: self.mtime_ns,
            inode: self.inode,
            ctime_ns: self.ctime_ns,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    /// Absolute path → entry.
    entries: BTreeMap<String, Entry>,
}

/// Digests of files by path, valid while their stat stamp is unchanged. `Sync`: threads
/// share one cache, and the lock is held only for map lookups and inserts, never while a
/// file is stat'ed or hashed, so planning and workers hash files in parallel.
#[derive(Debug)]
pub struct StatCache {
    path: Option<PathBuf>,
    entries: Mutex<BTreeMap<String, Entry>>,
    dirty: AtomicBool,
    racy_window: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl StatCache {
    /// Loads the cache saved at `path`. A missing, unreadable, corrupt or other-version file
    /// gives an empty cache: it only ever costs re-hashing.
    pub fn load(path: &Path) -> StatCache {
        let mut cache = StatCache::in_memory();
        cache.path = Some(path.to_path_buf());
        match fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<CacheFile>(&bytes) {
                Ok(file) if file.format == STAT_CACHE_FORMAT => {
                    cache.entries = Mutex::new(file.entries);
                }
                Ok(file) => {
                    tracing::debug!(path = %path.display(), format = file.format, "ignoring stat cache of another format")
                }
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "ignoring corrupt stat cache")
                }
            },
            Err(e) => tracing::debug!(path = %path.display(), error = %e, "no stat cache loaded"),
        }
        cache
    }

    /// A cache that is never saved.
    pub fn in_memory() -> StatCache {
        StatCache {
            path: None,
            entries: Mutex::default(),
            dirty: AtomicBool::new(false),
            racy_window: DEFAULT_RACY_WINDOW,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Changes how recently changed a file may be and still be recorded (default 2 s).
    /// Meant for tests; shorter than the filesystem's timestamp granularity is unsafe.
    pub fn set_racy_window(&mut self, window: Duration) {
        self.racy_window = window;
    }

    pub fn stats(&self) -> StatCacheStats {
        StatCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// The map; a panic elsewhere while it was held leaves it consistent (every change is
    /// one insert or remove), so a poisoned lock is taken as is.
    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Digest and size of a file (symlinks followed), from the cache when its stamp matches.
    pub fn digest_file(&self, path: &Path) -> Result<(Digest, u64), CacheError> {
        let abs = std::path::absolute(path).at("resolve", path)?;
        let meta = match fs::metadata(&abs) {
            Ok(meta) => meta,
            Err(e) => {
                if let Some(key) = abs.to_str()
                    && self.entries().remove(key).is_some()
                {
                    self.dirty.store(true, Ordering::Relaxed);
                }
                return Err(CacheError::io_or_missing("stat", path, e));
            }
        };
        if !meta.is_file() {
            return Err(CacheError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        self.digest_with_meta(&abs, &meta)
    }

    /// A file → [`Artifact::File`]; a directory → [`Artifact::Dir`] of its manifest.
    /// A symlink given here is followed; symlinks inside a directory are errors.
    pub fn digest_path(&self, path: &Path) -> Result<Artifact, CacheError> {
        let meta = fs::metadata(path).map_err(|e| CacheError::io_or_missing("stat", path, e))?;
        if meta.is_dir() {
            Ok(Artifact::dir(&self.tree_manifest(path)?))
        } else if meta.is_file() {
            // The metadata just read is the stamp: no second stat.
            let abs = std::path::absolute(path).at("resolve", path)?;
            let (digest, size) = self.digest_with_meta(&abs, &meta)?;
            Ok(Artifact::file(digest, size, &meta))
        } else {
            Err(CacheError::NotAFile {
                path: path.to_path_buf(),
            })
        }
    }

    /// The manifest of a directory, hashing only files whose stamp changed.
    pub fn tree_manifest(&self, dir: &Path) -> Result<TreeManifest, CacheError> {
        let abs = std::path::absolute(dir).at("resolve", dir)?;
        walk_tree(&abs, |path, meta| {
            let (digest, size) = self.digest_with_meta(path, meta)?;
            Ok(TreeEntry {
                digest,
                size,
                executable: meta::is_executable(meta),
            })
        })
    }

    /// Writes the cache back if anything changed: temp file next to it, then rename.
    pub fn save(&self) -> Result<(), CacheError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty.load(Ordering::Relaxed) {
            return Ok(());
        }
        let file = CacheFile {
            format: STAT_CACHE_FORMAT,
            entries: self.entries().clone(),
        };
        // Cannot fail: string keys, derived impls.
        let bytes = serde_json::to_vec(&file).expect("stat cache serializes to json");
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).at("create directory", dir)?;
        atomic::write_atomic(dir, path, &bytes, meta::FILE_MODE)?;
        self.dirty.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// `abs` must be absolute and `meta` its (followed) metadata.
    fn digest_with_meta(&self, abs: &Path, meta: &Metadata) -> Result<(Digest, u64), CacheError> {
        let stamp = meta::stamp(meta);
        // Non-UTF-8 paths cannot be JSON keys: such files are simply always hashed.
        let key = abs.to_str();
        let cached = key.and_then(|k| self.entries().get(k).cloned());
        if let Some(entry) = cached
            && entry.stamp() == stamp
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((entry.digest, entry.size));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let (digest, size) = hash_file(abs)?;
        // The stamp was taken before hashing: if the file changed meanwhile, the next lookup
        // sees a different stamp and hashes again. A changed size means it already did.
        if let Some(key) = key
            && size == stamp.size
            && self.settled(&stamp)
        {
            let entry = Entry {
                size,
                mtime_ns: stamp.mtime_ns,
                inode: stamp.inode,
                ctime_ns: stamp.ctime_ns,
                digest,
            };
            self.entries().insert(key.to_string(), entry);
            self.dirty.store(true, Ordering::Relaxed);
        }
        Ok((digest, size))
    }

    /// Both timestamps are older than the racy window. ctime counts too: it catches content
    /// rewritten with the old mtime put back, but only if it has moved on since recording.
    fn settled(&self, stamp: &Stamp) -> bool {
        let limit = meta::system_time_ns(SystemTime::now())
            .saturating_sub(i64::try_from(self.racy_window.as_nanos()).unwrap_or(i64::MAX));
        stamp.mtime_ns < limit && stamp.ctime_ns < limit
    }
}
