//! Ingestion: loaders that read a user's data set and write a normalised image set.
//!
//! Every loader lists its input files in a fixed order (sorted directory traversal, or
//! the row order of a CSV file), maps each file to a class and a patient, and hands
//! them to one shared writer. The writer decodes PNG, JPEG or DICOM, converts to 8-bit
//! grayscale, optionally resizes to a square, and writes
//! `images/<class>/<patient>-<n>.png` plus `images.json` with pinned PNG settings, so
//! the same input files and config always give the same bytes. Changing what any
//! loader writes for the same inputs must bump [`crate::DATA_VERSION`].

mod covid_chestxray;
mod csv_list;
mod decode;
mod dicom;
mod folder;
mod ingest;
mod kermany;
mod options;
pub(crate) mod out_dir;
pub(crate) mod part;
pub(crate) mod png_out;
mod resize;
mod walk;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::image_set::ImageSetManifest;

pub use covid_chestxray::{CovidChestXrayConfig, load_covid_chestxray};
pub use csv_list::{CsvConfig, load_csv};
pub use folder::{FolderConfig, load_folder};
pub use kermany::{KermanyConfig, load_kermany};
pub use options::{IngestOptions, MAX_SIZE, MIN_SIZE};

/// What a loader did: the manifest it wrote, and what it left out and why.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct IngestSummary {
    /// Also written to `out_dir/images.json`.
    pub manifest: ImageSetManifest,
    /// Files that failed to read or decode and were skipped because of `skip_bad`:
    /// (path, reason).
    pub skipped: Vec<(String, String)>,
    /// Entries left out on purpose (a class not kept, a lateral view, a CT scan, …):
    /// reason → count.
    pub dropped: BTreeMap<String, usize>,
}
