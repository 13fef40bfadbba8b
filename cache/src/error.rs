//! The crate's error type. Messages read after "failed to …".

use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// Everything that can go wrong in the cache. Every I/O failure carries the path involved.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// An I/O operation failed; `op` says what was being done to `path`.
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("find {path}: it does not exist")]
    Missing { path: PathBuf },
    #[error("hash {path}: symbolic links inside directories are not supported")]
    Symlink { path: PathBuf },
    #[error("hash {path}: not a regular file or directory")]
    NotAFile { path: PathBuf },
    #[error("hash {path}: file name is not valid UTF-8")]
    NonUtf8Path { path: PathBuf },
    /// The blob's content did not match its digest; `path` is where it was moved (quarantine).
    #[error("verify blob {digest}: content does not match its digest (moved to {path})")]
    Corrupt { digest: Digest, path: PathBuf },
    #[error("find blob {digest} in the store")]
    MissingBlob { digest: Digest },
    /// The store's FORMAT file names a layout this version does not know.
    #[error(
        "open store: {path} says {found:?}, expected \"augflow-store {}\"",
        crate::STORE_FORMAT
    )]
    Format { path: PathBuf, found: String },
    /// `path` is neither a store nor empty: augflow never adopts a folder it did not create.
    #[error(
        "use {path} as a store: it holds other files and no FORMAT file (give an empty or new folder)"
    )]
    NotAStore { path: PathBuf },
    #[error("decode json {path}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("walk {path}")]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    #[error("use tree manifest {digest}: unsupported format {found}")]
    TreeFormat { digest: Digest, found: u32 },
    #[error("use tree manifest {digest}: entry {name:?} is not a safe relative path")]
    UnsafeEntry { digest: Digest, name: String },
}

impl CacheError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> CacheError {
        CacheError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Like [`CacheError::io`], but a missing file becomes [`CacheError::Missing`].
    pub(crate) fn io_or_missing(op: &'static str, path: &Path, source: io::Error) -> CacheError {
        if source.kind() == io::ErrorKind::NotFound {
            CacheError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            CacheError::io(op, path, source)
        }
    }

    pub(crate) fn walk(path: &Path, source: walkdir::Error) -> CacheError {
        CacheError::Walk {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Attaches the operation and path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T, CacheError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T, CacheError> {
        self.map_err(|e| CacheError::io(op, path, e))
    }
}
