//! Whole artifacts in the store: storing, checking completeness, verifying.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::Store;
use super::blob::BlobState;
use crate::artifact::{Artifact, TreeEntry, TreeManifest};
use crate::digest::Digest;
use crate::error::CacheError;
use crate::meta;
use crate::tree::walk_tree;

impl Store {
    /// Stores a file, or every file of a directory plus its manifest. A symlink given here
    /// is followed; symlinks inside a directory are errors. The result equals what
    /// [`crate::StatCache::digest_path`] computes for the same content.
    pub fn put_artifact(&self, path: &Path) -> Result<Artifact, CacheError> {
        let meta = fs::metadata(path).map_err(|e| CacheError::io_or_missing("stat", path, e))?;
        if meta.is_dir() {
            let tree = walk_tree(path, |file, file_meta| {
                let (digest, size) = self.put_file(file)?;
                Ok(TreeEntry {
                    digest,
                    size,
                    executable: meta::is_executable(file_meta),
                })
            })?;
            self.put_bytes(&tree.to_canonical_bytes())?;
            Ok(Artifact::dir(&tree))
        } else if meta.is_file() {
            let (digest, size) = self.put_file(path)?;
            Ok(Artifact::file(digest, size, &meta))
        } else {
            Err(CacheError::NotAFile {
                path: path.to_path_buf(),
            })
        }
    }

    /// Reads, verifies and parses a stored manifest (format and entry names checked).
    pub fn read_manifest(&self, d: &Digest) -> Result<TreeManifest, CacheError> {
        let bytes = self.read_blob(d)?;
        TreeManifest::from_stored_bytes(&bytes, d, &self.blob_path(d))
    }

    /// True if every blob the artifact needs is present. A corrupt or unusable manifest
    /// counts as absent (and a corrupt one is quarantined).
    pub fn artifact_complete(&self, artifact: &Artifact) -> Result<bool, CacheError> {
        match artifact {
            Artifact::File { digest, .. } => Ok(self.has_blob(digest)),
            Artifact::Dir { manifest, .. } => match self.read_manifest(manifest) {
                Ok(tree) => Ok(tree.entries.values().all(|e| self.has_blob(&e.digest))),
                Err(e) if is_unusable_blob(&e) => {
                    tracing::debug!(manifest = %manifest, error = %e, "manifest unusable");
                    Ok(false)
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Re-hashes every blob of the artifact. Returns the digests of blobs that are missing
    /// or corrupt (corrupt ones are quarantined). An unusable manifest is reported alone.
    pub fn verify_artifact(&self, artifact: &Artifact) -> Result<Vec<Digest>, CacheError> {
        let digests: BTreeSet<Digest> = match artifact {
            Artifact::File { digest, .. } => BTreeSet::from([*digest]),
            Artifact::Dir { manifest, .. } => match self.read_manifest(manifest) {
                Ok(tree) => tree.entries.values().map(|e| e.digest).collect(),
                Err(e) if is_unusable_blob(&e) => return Ok(vec![*manifest]),
                Err(e) => return Err(e),
            },
        };
        let mut bad = Vec::new();
        for d in digests {
            match self.check_blob(&d)? {
                BlobState::Good(()) => {}
                BlobState::Missing => bad.push(d),
                BlobState::Corrupt => {
                    tracing::warn!(digest = %d, "blob is corrupt");
                    self.corrupt_blob(&d)?;
                    bad.push(d);
                }
            }
        }
        Ok(bad)
    }
}

/// Errors meaning "this stored manifest cannot be used", as opposed to I/O trouble.
pub(crate) fn is_unusable_blob(e: &CacheError) -> bool {
    matches!(
        e,
        CacheError::MissingBlob { .. }
            | CacheError::Corrupt { .. }
            | CacheError::Json { .. }
            | CacheError::TreeFormat { .. }
            | CacheError::UnsafeEntry { .. }
    )
}
