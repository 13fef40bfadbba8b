//! Write-to-temp-then-rename: the only way this crate puts a file where others can see it.
//!
//! A temp file lives in the same directory as (or on the same filesystem as) its final path,
//! so the final `rename` is atomic: a reader, or a process killed at any instant, sees either
//! nothing or the whole file. Temps that survive a crash are named `.augflow-tmp-*`.

use std::io::Write;
use std::path::Path;

use tempfile::NamedTempFile;

use crate::error::{CacheError, IoContext};
use crate::meta;

pub(crate) const TEMP_PREFIX: &str = ".augflow-tmp-";

/// Creates a temp file in `dir` (which must exist); it is deleted on drop unless persisted.
pub(crate) fn temp_in(dir: &Path) -> Result<NamedTempFile, CacheError> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .at("create a temp file in", dir)
}

/// Flushes `tmp` to disk, gives it `mode` and renames it over `dest`.
pub(crate) fn persist(tmp: NamedTempFile, dest: &Path, mode: u32) -> Result<(), CacheError> {
    let file = tmp.as_file();
    // fsync before rename: after a crash the name must never point at unwritten data.
    file.sync_all().at("sync", tmp.path())?;
    meta::set_mode(file, mode).at("set permissions on", tmp.path())?;
    tmp.persist(dest)
        .map_err(|e| CacheError::io("rename a temp file to", dest, e.error))?;
    Ok(())
}

/// Atomically writes `bytes` to `dest`, going through a temp file in `tmp_dir`.
pub(crate) fn write_atomic(
    tmp_dir: &Path,
    dest: &Path,
    bytes: &[u8],
    mode: u32,
) -> Result<(), CacheError> {
    let mut tmp = temp_in(tmp_dir)?;
    tmp.write_all(bytes).at("write", tmp.path())?;
    persist(tmp, dest, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        write_atomic(dir.path(), &dest, b"one", 0o644).unwrap();
        write_atomic(dir.path(), &dest, b"two", 0o644).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");
        // No temp leftovers.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
