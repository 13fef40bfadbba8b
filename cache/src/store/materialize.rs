//! Writing artifacts out of the store to their destinations.
//!
//! Every file is copied (never hardlinked: editing an output must not corrupt the store) to
//! a hidden temp file next to its destination while being re-hashed, and renamed into
//! place only if the hash matches, so a destination path only ever holds complete content.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::{Store, create_parent};
use crate::artifact::{Artifact, TreeManifest};
use crate::atomic;
use crate::digest::Digest;
use crate::error::{CacheError, IoContext};
use crate::hashing::{copy_hashing, hash_file};
use crate::meta;
use crate::tree::relative_name;

impl Store {
    /// Writes `artifact` to `dest` (a file path, or a directory path for a dir artifact).
    /// Whatever is at `dest` and is not part of the artifact is removed. Files that already
    /// hold the right content are left untouched.
    pub fn materialize(&self, artifact: &Artifact, dest: &Path) -> Result<(), CacheError> {
        match artifact {
            Artifact::File {
                digest,
                size,
                executable,
            } => {
                clear_for_file(dest)?;
                create_parent(dest)?;
                self.write_file(digest, *size, *executable, dest)
            }
            Artifact::Dir { manifest, .. } => {
                // Fully validated before dest is touched.
                let tree = self.read_manifest(manifest)?;
                clear_for_dir(dest)?;
                fs::create_dir_all(dest).at("create directory", dest)?;
                remove_strays(dest, &tree)?;
                for (name, entry) in &tree.entries {
                    let path: PathBuf = dest.join(name);
                    create_parent(&path)?;
                    self.write_file(&entry.digest, entry.size, entry.executable, &path)?;
                }
                Ok(())
            }
        }
    }

    fn write_file(
        &self,
        digest: &Digest,
        size: u64,
        executable: bool,
        dest: &Path,
    ) -> Result<(), CacheError> {
        let mode = meta::file_mode(executable);
        if already_there(dest, digest, size, executable)? {
            return Ok(());
        }
        let src = self.blob_path(digest);
        let mut input = match File::open(&src) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CacheError::MissingBlob { digest: *digest });
            }
            Err(e) => return Err(CacheError::io("open blob", &src, e)),
        };
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut tmp = atomic::temp_in(dir)?;
        let tmp_path = tmp.path().to_path_buf();
        let (got, _) = copy_hashing(&mut input, tmp.as_file_mut(), &src, &tmp_path)?;
        if got != *digest {
            drop(tmp); // deletes the partial copy
            return Err(self.corrupt_blob(digest)?);
        }
        atomic::persist(tmp, dest, mode)
    }
}

/// True if `dest` already holds exactly this content; fixes its executable bit if needed.
/// Costs a read, but saves a write and keeps the file's stamp (and stat-cache entries).
fn already_there(
    dest: &Path,
    digest: &Digest,
    size: u64,
    executable: bool,
) -> Result<bool, CacheError> {
    let Ok(found) = fs::symlink_metadata(dest) else {
        return Ok(false);
    };
    if !found.is_file() || found.len() != size {
        return Ok(false);
    }
    // Unreadable counts as different: it is simply replaced.
    if !hash_file(dest).is_ok_and(|(d, _)| d == *digest) {
        return Ok(false);
    }
    if meta::is_executable(&found) != executable {
        let file = File::open(dest).at("open", dest)?;
        meta::set_mode(&file, meta::file_mode(executable)).at("set permissions on", dest)?;
    }
    Ok(true)
}

/// A directory where a file should go is removed (files and symlinks are simply replaced
/// by the rename).
fn clear_for_file(dest: &Path) -> Result<(), CacheError> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(dest).at("remove directory", dest),
        _ => Ok(()),
    }
}

/// Anything but a real directory where one should go is removed (a symlink is not
/// followed: the tree must be written here, not wherever it points).
fn clear_for_dir(dest: &Path) -> Result<(), CacheError> {
    match fs::symlink_metadata(dest) {
        Ok(m) if !m.is_dir() => fs::remove_file(dest).at("remove", dest),
        _ => Ok(()),
    }
}

/// Removes everything under `dest` that the manifest does not describe: unknown files,
/// symlinks, leftover temps, and directories holding no manifest entry.
fn remove_strays(dest: &Path, tree: &TreeManifest) -> Result<(), CacheError> {
    let mut needed_dirs = BTreeSet::new();
    for name in tree.entries.keys() {
        for (i, c) in name.char_indices() {
            if c == '/' {
                needed_dirs.insert(&name[..i]);
            }
        }
    }
    let mut walk = WalkDir::new(dest).min_depth(1).into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| CacheError::walk(dest, e))?;
        let path = entry.path();
        let name = relative_name(dest, path);
        let kind = entry.file_type();
        if kind.is_dir() {
            if name.is_some_and(|n| needed_dirs.contains(n.as_str())) {
                continue;
            }
            tracing::debug!(path = %path.display(), "removing stray directory");
            fs::remove_dir_all(path).at("remove directory", path)?;
            walk.skip_current_dir();
        } else if !(kind.is_file() && name.is_some_and(|n| tree.entries.contains_key(&n))) {
            tracing::debug!(path = %path.display(), "removing stray file");
            fs::remove_file(path).at("remove", path)?;
        }
    }
    Ok(())
}
