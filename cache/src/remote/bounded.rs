//! Reads from a remote that cannot hang or flood the caller: folder objects are opened
//! without following symlinks and without blocking (a FIFO is refused at once, not waited
//! on), only regular files are read, and every copy stops at a size cap, a deadline, or a
//! Ctrl-C ([`interrupt_transfers`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Largest action entry read from a remote: entries are small JSON (outputs, producer,
/// metrics); anything bigger is damaged or hostile.
pub const MAX_ENTRY_BYTES: u64 = 4 << 20;
/// Largest tree manifest read from a remote (about 200,000 files' worth of JSON).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;
/// Largest signature file read from a remote.
pub const MAX_SIGNATURE_BYTES: u64 = 4 << 10;
/// Default time one object of a folder remote may take to read or write.
pub const DIR_TIMEOUT: Duration = Duration::from_secs(300);

const CHUNK: usize = 1 << 20;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Makes every transfer in progress, and every later one, stop at its next chunk with
/// [`Bounded::Interrupted`]: called from the Ctrl-C handler.
pub fn interrupt_transfers() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Why a bounded read or copy stopped early.
#[derive(Debug, thiserror::Error)]
pub enum Bounded {
    #[error("it is not a regular file (a symlink, FIFO, device or folder)")]
    NotRegular,
    #[error("it is larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error("it took longer than {0:?}")]
    TimedOut(Duration),
    #[error("interrupted")]
    Interrupted,
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Bounded {
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Bounded::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// Opens `path` for reading only if it is a regular file, not through a final symlink, and
/// without blocking on a FIFO.
pub(crate) fn open_regular(path: &Path) -> Result<File, Bounded> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        // ELOOP: the last component is a symlink.
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(Bounded::NotRegular),
        Err(e) => return Err(e.into()),
    };
    if !file.metadata()?.is_file() {
        return Err(Bounded::NotRegular);
    }
    Ok(file)
}

/// Copies `src` into `dst` until end of file, failing once more than `max` bytes arrive,
/// after `timeout`, or on Ctrl-C. Returns the bytes copied.
pub(crate) fn copy_bounded(
    src: &mut impl Read,
    dst: &mut impl Write,
    max: u64,
    timeout: Duration,
) -> Result<u64, Bounded> {
    let deadline = Instant::now() + timeout;
    // One byte past the cap is enough to tell it was passed.
    let cap = usize::try_from(max).unwrap_or(CHUNK).saturating_add(1);
    let mut buf = vec![0u8; CHUNK.min(cap)];
    let mut total = 0u64;
    loop {
        check_going(total, max, deadline, timeout)?;
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        total += n as u64;
        if total > max {
            return Err(Bounded::TooLarge { max });
        }
        dst.write_all(&buf[..n])?;
    }
}

/// Reads a whole (small) object into memory under the same limits.
pub(crate) fn read_bounded(
    src: &mut impl Read,
    max: u64,
    timeout: Duration,
) -> Result<Vec<u8>, Bounded> {
    let mut bytes = Vec::new();
    copy_bounded(src, &mut bytes, max, timeout)?;
    Ok(bytes)
}

/// The checks between two chunks, shared with the S3 download loop.
pub(crate) fn check_going(
    total: u64,
    max: u64,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), Bounded> {
    if total > max {
        return Err(Bounded::TooLarge { max });
    }
    if interrupted() {
        return Err(Bounded::Interrupted);
    }
    if Instant::now() > deadline {
        return Err(Bounded::TimedOut(timeout));
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_symlinks_and_devices_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        assert!(matches!(open_regular(&fifo), Err(Bounded::NotRegular)));
        assert!(started.elapsed() < Duration::from_secs(5));
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(open_regular(&link), Err(Bounded::NotRegular)));
        assert!(matches!(
            open_regular(Path::new("/dev/zero")),
            Err(Bounded::NotRegular)
        ));
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        let mut f = open_regular(&file).unwrap();
        assert_eq!(read_bounded(&mut f, 3, DIR_TIMEOUT).unwrap(), b"abc");
        assert!(
            open_regular(&dir.path().join("absent"))
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn an_endless_stream_stops_at_the_cap() {
        let mut zeros = io::repeat(0);
        let mut sink = io::sink();
        let err = copy_bounded(&mut zeros, &mut sink, 10 << 20, DIR_TIMEOUT).unwrap_err();
        assert!(matches!(err, Bounded::TooLarge { max } if max == 10 << 20));
        let mut short = &b"12345"[..];
        let err = read_bounded(&mut short, 4, DIR_TIMEOUT).unwrap_err();
        assert!(matches!(err, Bounded::TooLarge { .. }));
        let mut exact = &b"1234"[..];
        assert_eq!(read_bounded(&mut exact, 4, DIR_TIMEOUT).unwrap(), b"1234");
    }

    #[test]
    fn a_slow_stream_times_out() {
        let mut zeros = io::repeat(0);
        let err = copy_bounded(&mut zeros, &mut io::sink(), u64::MAX, Duration::ZERO);
        assert!(matches!(err, Err(Bounded::TimedOut(_))));
    }
}
