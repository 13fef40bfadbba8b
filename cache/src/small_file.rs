//! Reading the store's small records (project registrations, run records), which a
//! reader skips rather than reports when they are unreadable.

use std::io::Read;
use std::path::Path;

/// The bytes of `path` when it opens, reads and holds at most `max` bytes; `None` otherwise.
/// Never reads more than `max + 1` bytes, so a huge or endless file costs nothing.
pub fn read_small_file(path: &Path, max: u64) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= max).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_cap_or_missing_gives_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_small_file(&path, 5).as_deref(), Some(&b"12345"[..]));
        assert_eq!(read_small_file(&path, 4), None);
        assert_eq!(read_small_file(&dir.path().join("absent"), 5), None);
    }
}
