//! Blobs: immutable files named by the blake3 digest of their content.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

use tempfile::NamedTempFile;

use super::Store;
use crate::atomic;
use crate::digest::Digest;
use crate::error::{CacheError, IoContext};
use crate::hashing::{copy_hashing, hash_file};
use crate::meta;

/// What a blob turned out to be when checked, without side effects.
pub(crate) enum BlobState<T> {
    Good(T),
    Missing,
    Corrupt,
}

impl Store {
    pub fn has_blob(&self, d: &Digest) -> bool {
        fs::symlink_metadata(self.blob_path(d)).is_ok_and(|m| m.is_file())
    }

    /// Copies `src` into the store, hashing the bytes as they are written. Returns the
    /// digest and size of what was stored.
    pub fn put_file(&self, src: &Path) -> Result<(Digest, u64), CacheError> {
        let mut input = File::open(src).map_err(|e| CacheError::io_or_missing("open", src, e))?;
        let tmp_dir = self.tmp_dir();
        let mut tmp = atomic::temp_in(&tmp_dir)?;
        let tmp_path = tmp.path().to_path_buf();
        let (digest, size) = copy_hashing(&mut input, tmp.as_file_mut(), src, &tmp_path)?;
        self.publish_blob(tmp, &digest)?;
        Ok((digest, size))
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, CacheError> {
        let digest = Digest::of_bytes(bytes);
        if self.has_blob(&digest) && self.touch_blob(&digest) {
            return Ok(digest);
        }
        let mut tmp = atomic::temp_in(&self.tmp_dir())?;
        tmp.write_all(bytes).at("write", tmp.path())?;
        self.publish_blob(tmp, &digest)?;
        Ok(digest)
    }

    /// Reads a whole blob and checks its digest; a corrupt blob is quarantined.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, CacheError> {
        match self.load_blob(d)? {
            BlobState::Good(bytes) => Ok(bytes),
            BlobState::Missing => Err(CacheError::MissingBlob { digest: *d }),
            BlobState::Corrupt => Err(self.corrupt_blob(d)?),
        }
    }

    /// Reads and checks a blob without quarantining anything.
    pub(crate) fn load_blob(&self, d: &Digest) -> Result<BlobState<Vec<u8>>, CacheError> {
        let path = self.blob_path(d);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BlobState::Missing),
            Err(e) => return Err(CacheError::io("read blob", &path, e)),
        };
        if Digest::of_bytes(&bytes) == *d {
            Ok(BlobState::Good(bytes))
        } else {
            Ok(BlobState::Corrupt)
        }
    }

    /// Re-hashes a blob in place (streaming; large blobs on all cores).
    pub(crate) fn check_blob(&self, d: &Digest) -> Result<BlobState<()>, CacheError> {
        match hash_file(&self.blob_path(d)) {
            Ok((got, _)) if got == *d => Ok(BlobState::Good(())),
            Ok(_) => Ok(BlobState::Corrupt),
            Err(CacheError::Missing { .. }) => Ok(BlobState::Missing),
            Err(e) => Err(e),
        }
    }

    /// Quarantines a blob found corrupt and returns the error to report.
    pub(crate) fn corrupt_blob(&self, d: &Digest) -> Result<CacheError, CacheError> {
        let path = self.quarantine(&self.blob_path(d), &d.to_hex())?;
        Ok(CacheError::Corrupt { digest: *d, path })
    }

    /// A new temp file in this store's `tmp/`, deleted on drop unless published.
    pub(crate) fn temp_file(&self) -> Result<NamedTempFile, CacheError> {
        atomic::temp_in(&self.tmp_dir())
    }

    /// Publishes `tmp` (a file in this store's `tmp/`, e.g. a download) as blob `expected`
    /// if its content hashes to `expected`, returning its size; otherwise deletes it and
    /// returns None, so unverified bytes never enter `objects/`.
    pub(crate) fn publish_verified(
        &self,
        tmp: NamedTempFile,
        expected: &Digest,
    ) -> Result<Option<u64>, CacheError> {
        let (got, size) = hash_file(tmp.path())?;
        if got != *expected {
            return Ok(None);
        }
        self.publish_blob(tmp, expected)?;
        Ok(Some(size))
    }

    /// Moves a complete temp file into `objects/`, unless the blob is already there.
    fn publish_blob(&self, tmp: NamedTempFile, digest: &Digest) -> Result<(), CacheError> {
        // Same content by definition; the temp is deleted on drop. A teammate's blob that
        // cannot be marked as used is replaced by ours instead (group-shared stores).
        if self.has_blob(digest) && self.touch_blob(digest) {
            return Ok(());
        }
        let dest = self.blob_path(digest);
        self.create_store_parent(&dest)?;
        // A concurrent writer of the same blob may rename first: renaming over it is
        // harmless since both files have the same content.
        atomic::persist(tmp, &dest, meta::BLOB_MODE)
    }

    /// Marks an existing blob as recently used, so a concurrent gc's grace period protects
    /// it until the action entry that needs it is published. False only when a group-shared
    /// store's blob belongs to another user (only its owner may set its time): the caller
    /// then writes its own copy. Otherwise best effort.
    fn touch_blob(&self, d: &Digest) -> bool {
        let path = self.blob_path(d);
        let result = File::open(&path).and_then(|f| f.set_modified(SystemTime::now()));
        match result {
            Ok(()) => true,
            Err(e) if self.group && e.kind() == io::ErrorKind::PermissionDenied => false,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "could not refresh blob mtime");
                true
            }
        }
    }
}
