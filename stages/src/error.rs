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
    #[error("serialize image-set manifest {path}")]
    SerializeManifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("read {path}: format {found} is not supported (expected {expected})")]
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
    /// Any decoder failure (PNG, JPEG, DICOM), boxed so the codecs stay out of this type.
    #[error("decode image {path}")]
    DecodeImage {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The user's data does not have the layout or content the loader expects.
    #[error("ingest {path}: {reason}")]
    InvalidData { path: PathBuf, reason: String },
    /// Without `size`, one image set holds images of a single size only.
    #[error(
        "ingest {path}: it is {width}x{height} but {first_path} is {first_width}x{first_height}; set `size` to resize all images to one size"
    )]
    MixedImageSizes {
        path: PathBuf,
        width: u32,
        height: u32,
        first_path: PathBuf,
        first_width: u32,
        first_height: u32,
    },
    #[error("read csv {path}")]
    ReadCsv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("find images under {path}: it holds none that pass the filters")]
    NoImages { path: PathBuf },
    #[error("copy {from} to {to}")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Labels, predictions or scores that metrics cannot be computed from.
    #[error("compute classification metrics: {0}")]
    InvalidMetricsInput(String),
    /// An image's label is not one of the classes the model was (or is being) trained on.
    #[error("use {path}: its class {class:?} is not one of the model's classes ({known})")]
    UnknownClass {
        path: PathBuf,
        class: String,
        known: String,
    },
    #[error("read image {path}: {reason}")]
    InvalidImage { path: PathBuf, reason: String },
    #[error("find a wgpu adapter: none is available (install a GPU driver or Mesa's lavapipe)")]
    NoWgpuAdapter,
    /// `--backend cuda` on a machine whose NVIDIA driver is missing or sees no device.
    #[error("use the cuda backend: {reason}")]
    NoCudaDevice { reason: String },
    /// A Burn operation failed on the device; the message says which.
    #[error("{0}")]
    Backend(String),
    #[error("save weights to {path}: {reason}")]
    SaveWeights { path: PathBuf, reason: String },
    #[error("load weights from {path}: {reason}")]
    LoadWeights { path: PathBuf, reason: String },
    /// A model folder's file (tokenizer, config) is unusable; `reason` names the problem.
    #[error("read model file {path}: {reason}")]
    InvalidModelFile { path: PathBuf, reason: String },
    /// A model folder lacks parts or holds a model family we do not implement.
    #[error("open model folder {path}: {reason}")]
    InvalidModelFolder { path: PathBuf, reason: String },
    #[error("parse {path}")]
    ParseJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("serialize {path}")]
    SerializeJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The caller asked the stage to stop (e.g. Ctrl-C); nothing was written.
    #[error("finish: the stage was cancelled")]
    Cancelled,
}

/// An error and its causes on one line, joined by `: ` (for summaries, events and logs).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
