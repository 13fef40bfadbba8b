//! The crate's error type. Messages read after "failed to …".

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in a stage. Every I/O failure carries the path involved.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The stage's config is unusable; the message names the offending value.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    #[error("create directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("list directory {path}")]
    ListDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Stages write into fresh directories; leftovers would end up in the artifact.
    #[error("write into {path}: the output directory is not empty")]
    OutputNotEmpty { path: PathBuf },
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("parse image-set manifest {path}")]
    ParseManifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("serialize image-set manifest {path}")]
    SerializeManifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "read image-set manifest {path}: format {found} is not supported (expected {expected})"
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("encode png {path}")]
    EncodePng {
        path: PathBuf,
        #[source]
        source: png::EncodingError,
    },
}
