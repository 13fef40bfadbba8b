//! A store shared by the Unix users of one group (`[store] shared = "group"`, as DVC's
//! `cache.shared` and git's `core.sharedRepository`).
//!
//! The mode lives in the store itself: a root folder that is setgid and group-writable
//! makes every process that opens it keep folders group-writable (setgid, so new files get
//! the group) and metadata group-writable, whatever its user's umask or config says. Blobs
//! stay read-only for everyone.

use std::fs;
use std::io;
use std::path::Path;

use super::Store;
use crate::error::{CacheError, IoContext};
use crate::meta;

/// Folders of a group-shared store: rwxrwsr-x.
pub(crate) const GROUP_DIR_MODE: u32 = 0o2775;
/// Entries, project records, lock files and FORMAT of a group-shared store: rw-rw-r--.
pub(crate) const GROUP_FILE_MODE: u32 = 0o664;

impl Store {
    /// Mode of the store's metadata files (entries, project records, FORMAT).
    pub(crate) fn metadata_mode(&self) -> u32 {
        if self.group {
            GROUP_FILE_MODE
        } else {
            meta::FILE_MODE
        }
    }

    /// Creates the store folder that will hold `path`; in a group store, every folder it
    /// creates gets [`GROUP_DIR_MODE`] (the umask would otherwise decide).
    pub(crate) fn create_store_parent(&self, path: &Path) -> Result<(), CacheError> {
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => self.create_store_dir(parent),
            _ => Ok(()),
        }
    }

    pub(crate) fn create_store_dir(&self, dir: &Path) -> Result<(), CacheError> {
        if !self.group {
            return fs::create_dir_all(dir).at("create store directory", dir);
        }
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.create_store_dir(parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => set_group_mode(dir, GROUP_DIR_MODE),
            // A teammate created it at the same moment: its mode is theirs to set.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(CacheError::io("create store directory", dir, e)),
        }
    }

    /// A lock file this process just created must be openable for writing by the group.
    pub(crate) fn share_lock_file(&self, path: &Path) {
        if self.group {
            // Best effort: a teammate's lock file already has the group mode.
            let _ = set_group_mode(path, GROUP_FILE_MODE);
        }
    }
}

/// True for the root of a group-shared store: setgid and group-writable.
#[cfg(unix)]
pub(crate) fn is_group_root(root: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(root).is_ok_and(|m| {
        let mode = m.permissions().mode();
        mode & 0o2000 != 0 && mode & 0o020 != 0
    })
}

#[cfg(not(unix))]
pub(crate) fn is_group_root(_root: &Path) -> bool {
    false
}

/// Sets `mode` on a path this process owns; another user's path keeps its mode (only its
/// owner may change it), which is fine since it was created in group mode too.
pub(crate) fn set_group_mode(path: &Path, mode: u32) -> Result<(), CacheError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
            Err(e) => Err(CacheError::io("set permissions on", path, e)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}
