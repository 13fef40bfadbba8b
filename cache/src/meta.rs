//! Platform-specific file metadata: stat stamps, the executable bit and permission modes.

use std::fs::{File, Metadata};
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

/// Mode of a blob in the store: nobody should write to it.
pub(crate) const BLOB_MODE: u32 = 0o444;
/// Modes of materialized files and of store metadata.
pub(crate) const FILE_MODE: u32 = 0o644;
pub(crate) const EXEC_MODE: u32 = 0o755;

/// What the stat cache compares to decide a file is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    pub ctime_ns: i64,
}

#[cfg(unix)]
pub(crate) fn stamp(meta: &Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp {
        size: meta.len(),
        mtime_ns: to_ns(meta.mtime(), meta.mtime_nsec()),
        inode: meta.ino(),
        ctime_ns: to_ns(meta.ctime(), meta.ctime_nsec()),
    }
}

#[cfg(not(unix))]
pub(crate) fn stamp(meta: &Metadata) -> Stamp {
    // No inode or ctime here: fall back to size + mtime.
    let mtime_ns = meta.modified().map(system_time_ns).unwrap_or(0);
    Stamp {
        size: meta.len(),
        mtime_ns,
        inode: 0,
        ctime_ns: mtime_ns,
    }
}

#[cfg(unix)]
fn to_ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// Nanoseconds since the Unix epoch (negative before it, saturating far away).
pub(crate) fn system_time_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

#[cfg(unix)]
pub(crate) fn is_executable(meta: &Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub(crate) fn is_executable(_meta: &Metadata) -> bool {
    false
}

/// Sets a file's permission bits through an open handle.
#[cfg(unix)]
pub(crate) fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
pub(crate) fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    // Only a read-only flag exists: derive it from the owner write bit.
    let mut perms = file.metadata()?.permissions();
    perms.set_readonly(mode & 0o200 == 0);
    file.set_permissions(perms)
}

pub(crate) fn file_mode(executable: bool) -> u32 {
    if executable { EXEC_MODE } else { FILE_MODE }
}
