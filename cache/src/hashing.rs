//! Hashing file content, in one go or while copying it.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use crate::digest::Digest;
use crate::error::{CacheError, IoContext};

/// Files at least this big are hashed through a memory map on all cores, as b3sum does;
/// below it the thread-pool and mmap setup cost more than they save.
const MMAP_THRESHOLD: u64 = 1 << 20;

/// Large enough for blake3's SIMD paths to work on many chunks at once.
const COPY_BUFFER: usize = 256 * 1024;

/// Hashes a file's content. Returns its digest and size.
pub fn hash_file(path: &Path) -> Result<(Digest, u64), CacheError> {
    let meta = fs::metadata(path).map_err(|e| CacheError::io_or_missing("stat", path, e))?;
    if !meta.is_file() {
        return Err(CacheError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() >= MMAP_THRESHOLD {
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_mmap_rayon(path)
            .map_err(|e| CacheError::io_or_missing("hash", path, e))?;
        Ok((hasher.finalize().into(), hasher.count()))
    } else {
        let bytes = fs::read(path).map_err(|e| CacheError::io_or_missing("read", path, e))?;
        Ok((Digest::of_bytes(&bytes), bytes.len() as u64))
    }
}

/// Copies `reader` (the content of `src`) into `writer` (the file `dst`), hashing what is
/// written, so the digest describes exactly the bytes that landed in `dst`.
pub(crate) fn copy_hashing(
    reader: &mut impl Read,
    writer: &mut impl Write,
    src: &Path,
    dst: &Path,
) -> Result<(Digest, u64), CacheError> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CacheError::io("read", src, e)),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).at("write", dst)?;
        total += n as u64;
    }
    Ok((hasher.finalize().into(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn small_and_large_files_match_blake3() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, 1000, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 17] {
            let path = dir.path().join(format!("f{len}"));
            let data = pattern(len);
            fs::write(&path, &data).unwrap();
            let (d, size) = hash_file(&path).unwrap();
            assert_eq!(d, Digest::from(blake3::hash(&data)), "len {len}");
            assert_eq!(size, len as u64);
        }
    }

    #[test]
    fn missing_file_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = hash_file(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, CacheError::Missing { .. }), "{err:?}");
        let err = hash_file(dir.path()).unwrap_err();
        assert!(matches!(err, CacheError::NotAFile { .. }), "{err:?}");
    }

    #[test]
    fn copy_hashing_hashes_what_it_copies() {
        let data = pattern(COPY_BUFFER * 2 + 5);
        let mut out = Vec::new();
        let (d, n) = copy_hashing(&mut &data[..], &mut out, "a".as_ref(), "b".as_ref()).unwrap();
        assert_eq!(out, data);
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, Digest::of_bytes(&data));
    }
}
