//! Per-key inter-process locks, so two processes never build the same action at once.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use super::Store;
use crate::digest::Digest;
use crate::error::{CacheError, IoContext};

/// An exclusive lock on a key, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct KeyLock {
    // Holding the open file holds the lock; closing it releases it.
    _file: File,
    path: PathBuf,
}

impl KeyLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store {
    /// Waits until this process holds the lock for `key`.
    pub fn lock_key(&self, key: &Digest) -> Result<KeyLock, CacheError> {
        let (file, path) = self.open_lock_file(key)?;
        file.lock().at("lock", &path)?;
        Ok(KeyLock { _file: file, path })
    }

    /// Takes the lock for `key` if it is free; `Ok(None)` if someone else holds it.
    pub fn try_lock_key(&self, key: &Digest) -> Result<Option<KeyLock>, CacheError> {
        let (file, path) = self.open_lock_file(key)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(KeyLock { _file: file, path })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(CacheError::io("lock", &path, e)),
        }
    }

    /// Lock files are never deleted: removing one while another process waits on it would
    /// let a third process lock a fresh file at the same path.
    fn open_lock_file(&self, key: &Digest) -> Result<(File, PathBuf), CacheError> {
        let path = self.lock_path(key);
        self.create_store_parent(&path)?;
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .at("open lock file", &path)?;
        self.share_lock_file(&path);
        Ok((file, path))
    }
}
