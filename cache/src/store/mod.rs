//! The on-disk content-addressed store: layout, opening, and quarantine.
//! Blob, artifact, action-cache, lock and gc operations live in the submodules.

mod action;
mod artifacts;
mod blob;
mod evict;
mod gc;
mod lock;
mod materialize;
mod projects;
mod shared;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::atomic;
use crate::digest::Digest;
use crate::error::{CacheError, IoContext};
use crate::meta;

pub(crate) use artifacts::is_unusable_blob;
pub use evict::USE_RESOLUTION;
pub use gc::GcReport;
pub use lock::KeyLock;

/// Version of the store layout, written to `root/FORMAT`.
pub const STORE_FORMAT: u32 = 1;

const FORMAT_FILE: &str = "FORMAT";
const OBJECTS: &str = "objects";
const ACTIONS: &str = "ac";
const TMP: &str = "tmp";
const QUARANTINE: &str = "quarantine";
const LOCKS: &str = "locks";
const PROJECTS: &str = "projects";

/// A content-addressed store rooted at a directory. Holds only paths, so it is cheap to
/// clone and share; all coordination between processes goes through the filesystem.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    /// Shared by the users of one Unix group (see `shared.rs`).
    group: bool,
}

impl Store {
    /// Opens the store at `root`, creating it if needed. A store created shared by a group
    /// ([`Store::open_group_shared`]) stays shared whoever opens it.
    pub fn open(root: &Path) -> Result<Store, CacheError> {
        Store::open_with(root, false)
    }

    /// Opens the store at `root` for the users of one Unix group: folders group-writable
    /// and setgid, metadata group-writable, whatever each user's umask. A new store is
    /// created so; an existing one of this user's is converted (its root marks the mode).
    pub fn open_group_shared(root: &Path) -> Result<Store, CacheError> {
        Store::open_with(root, true)
    }

    fn open_with(root: &Path, group: bool) -> Result<Store, CacheError> {
        // Absolute, so a later change of working directory does not move the store.
        let root = std::path::absolute(root).at("resolve", root)?;
        fs::create_dir_all(&root).at("create store directory", &root)?;
        if group {
            shared::set_group_mode(&root, shared::GROUP_DIR_MODE)?;
        }
        let group = group || shared::is_group_root(&root);
        let store = Store { root, group };
        store.check_format()?;
        for dir in [OBJECTS, ACTIONS, TMP, QUARANTINE, LOCKS, PROJECTS] {
            let path = store.root.join(dir);
            store.create_store_dir(&path)?;
            // Folders of a store converted to group mode predate it: they get the mode too.
            if store.group {
                shared::set_group_mode(&path, shared::GROUP_DIR_MODE)?;
            }
        }
        Ok(store)
    }

    /// True when the store is shared by a Unix group.
    pub fn is_group_shared(&self) -> bool {
        self.group
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/objects/ab/cdef…`: the first two hex chars shard the directory.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        let hex = d.to_hex();
        self.root.join(OBJECTS).join(&hex[..2]).join(&hex[2..])
    }

    pub(crate) fn action_path(&self, key: &Digest) -> PathBuf {
        self.keyed_path(ACTIONS, key, "json")
    }

    pub(crate) fn lock_path(&self, key: &Digest) -> PathBuf {
        self.keyed_path(LOCKS, key, "lock")
    }

    /// `root/<dir>/ab/abcdef….<extension>`, sharded like blobs.
    fn keyed_path(&self, dir: &str, key: &Digest, extension: &str) -> PathBuf {
        let hex = key.to_hex();
        self.root
            .join(dir)
            .join(&hex[..2])
            .join(format!("{hex}.{extension}"))
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP)
    }

    fn check_format(&self) -> Result<(), CacheError> {
        let path = self.root.join(FORMAT_FILE);
        let expected = format!("augflow-store {STORE_FORMAT}\n");
        match fs::read_to_string(&path) {
            Ok(found) if found == expected => Ok(()),
            Ok(found) => Err(CacheError::Format {
                path,
                found: found.trim_end().to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Only a new folder becomes a store: gc deletes what it finds in one, so
                // adopting `--store ~/Documents` would put the user's files at risk.
                if !is_new_folder(&self.root)? {
                    // Another process may have created the store between our read of
                    // FORMAT and the listing: FORMAT is written before anything else.
                    if fs::read_to_string(&path).is_ok_and(|found| found == expected) {
                        return Ok(());
                    }
                    return Err(CacheError::NotAStore {
                        path: self.root.clone(),
                    });
                }
                // Two processes creating the store at once both write the same bytes.
                atomic::write_atomic(&self.root, &path, expected.as_bytes(), self.metadata_mode())
            }
            Err(e) => Err(CacheError::io("read", &path, e)),
        }
    }

    /// Moves a damaged file to `quarantine/<name>.<unix_nanos>` for later inspection.
    /// Returns where it went, or `path` itself if it had already disappeared.
    pub(crate) fn quarantine(&self, path: &Path, name: &str) -> Result<PathBuf, CacheError> {
        let nanos = meta::system_time_ns(SystemTime::now());
        let dest = self.root.join(QUARANTINE).join(format!("{name}.{nanos}"));
        match fs::rename(path, &dest) {
            Ok(()) => {
                tracing::warn!(from = %path.display(), to = %dest.display(), "moved damaged file to quarantine");
                Ok(dest)
            }
            // Someone else (another process) quarantined or removed it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path.to_path_buf()),
            Err(e) => Err(CacheError::io("move to quarantine", path, e)),
        }
    }
}

/// True if `dir` is empty but for the temp file of another process creating the store at
/// this moment (FORMAT is written first, so a store's subfolders never exist without it).
fn is_new_folder(dir: &Path) -> Result<bool, CacheError> {
    let entries = fs::read_dir(dir).at("list", dir)?;
    for entry in entries {
        let name = entry.at("list", dir)?.file_name();
        if !name.to_string_lossy().starts_with(atomic::TEMP_PREFIX) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Creates the parent directory of `path`.
pub(crate) fn create_parent(path: &Path) -> Result<(), CacheError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            fs::create_dir_all(parent).at("create directory", parent)
        }
        _ => Ok(()),
    }
}

/// Removes the file at `path`; absent is fine. `what` names the file in the error.
pub(crate) fn remove_file_if_present(path: &Path, what: &'static str) -> Result<(), CacheError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(CacheError::io(what, path, e)),
        _ => Ok(()),
    }
}

/// UTF-8 names of the entries of `dir` (others are skipped); empty if `dir` is missing.
pub(crate) fn read_dir_names(dir: &Path) -> Result<Vec<String>, CacheError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CacheError::io("list", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.at("list", dir)?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::of_bytes(b"x");
        let hex = d.to_hex();
        let expected = store.root().join("objects").join(&hex[..2]).join(&hex[2..]);
        assert_eq!(store.blob_path(&d), expected);
        assert_eq!(
            fs::read_to_string(dir.path().join("FORMAT")).unwrap(),
            "augflow-store 1\n"
        );
        for sub in ["objects", "ac", "tmp", "quarantine", "locks", "projects"] {
            assert!(dir.path().join(sub).is_dir(), "{sub}");
        }
        // Reopening is fine.
        Store::open(dir.path()).unwrap();
    }

    /// Opens a store in a new folder that holds only `file`.
    fn open_folder_with(
        file: &str,
        contents: &str,
    ) -> (tempfile::TempDir, Result<Store, CacheError>) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(file), contents).unwrap();
        let opened = Store::open(dir.path());
        (dir, opened)
    }

    #[test]
    fn a_folder_with_other_files_is_not_adopted() {
        let (dir, opened) = open_folder_with("notes.txt", "mine");
        let err = opened.unwrap_err();
        assert!(matches!(&err, CacheError::NotAStore { .. }), "{err:?}");
        assert!(!dir.path().join("FORMAT").exists());
        assert!(!dir.path().join("tmp").exists());
        // A folder another process is creating the store in right now is fine.
        let (_racing, opened) = open_folder_with(".augflow-tmp-abc", "");
        opened.unwrap();
    }

    #[test]
    fn unknown_format_is_refused() {
        let (dir, opened) = open_folder_with("FORMAT", "augflow-store 99\n");
        let err = opened.unwrap_err();
        assert!(
            matches!(&err, CacheError::Format { found, .. } if found == "augflow-store 99"),
            "{err:?}"
        );
        assert!(!dir.path().join("objects").exists());
    }
}
