//! Which projects use this store, so that gc run from one project keeps what the others
//! need (the failure of DVC #7610, where `gc` in one project emptied a shared cache).
//!
//! `projects/<blake3 of the path>` holds the absolute path of a folder of the project's
//! own choosing (augflow gives its node-records folder). The store attaches no meaning to
//! it; gc in the engine reads the keys recorded there.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{PROJECTS, Store, read_dir_names, remove_file_if_present};
use crate::atomic;
use crate::digest::Digest;
use crate::error::CacheError;
use crate::small_file::read_small_file;

/// Longest registered path read back (a path longer than PATH_MAX is not a real one).
const MAX_PATH_BYTES: u64 = 4096;

impl Store {
    /// Records that the project with `dir` uses this store. Costs one `stat` when already
    /// recorded.
    pub fn register_project(&self, dir: &Path) -> Result<(), CacheError> {
        let path = self.project_file(dir);
        if path.is_file() {
            return Ok(());
        }
        let folder = self.root.join(PROJECTS);
        self.create_store_dir(&folder)?;
        atomic::write_atomic(
            &self.tmp_dir(),
            &path,
            dir.as_os_str().as_bytes(),
            self.metadata_mode(),
        )
    }

    /// Forgets a project (its folder is gone).
    pub fn forget_project(&self, dir: &Path) -> Result<(), CacheError> {
        remove_file_if_present(&self.project_file(dir), "remove project record")
    }

    /// The folders registered with [`Store::register_project`], sorted. Unreadable or
    /// oversized records are skipped.
    pub fn projects(&self) -> Result<Vec<PathBuf>, CacheError> {
        let folder = self.root.join(PROJECTS);
        let mut found = Vec::new();
        for name in read_dir_names(&folder)? {
            if Digest::from_hex(&name).is_err() {
                continue;
            }
            let Some(bytes) = read_small_file(&folder.join(&name), MAX_PATH_BYTES) else {
                continue;
            };
            let dir = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
            if dir.is_absolute() {
                found.push(dir);
            }
        }
        found.sort();
        Ok(found)
    }

    fn project_file(&self, dir: &Path) -> PathBuf {
        let name = Digest::of_bytes(dir.as_os_str().as_bytes()).to_hex();
        self.root.join(PROJECTS).join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_once_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = Path::new("/work/a/.augflow/state/nodes");
        let b = Path::new("/work/b/.augflow/state/nodes");
        store.register_project(a).unwrap();
        store.register_project(a).unwrap();
        store.register_project(b).unwrap();
        assert_eq!(store.projects().unwrap(), [a, b]);
        store.forget_project(a).unwrap();
        assert_eq!(store.projects().unwrap(), [b]);
    }
}
