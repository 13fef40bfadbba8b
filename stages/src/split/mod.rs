//! The patient-level train/val/test split.
//!
//! Patients, not images, are assigned to parts, so no patient's films end up on both
//! sides. Each class is split on its own (stratified), by a seeded shuffle and
//! largest-remainder counts, or into k folds for cross-validation; or the data's own
//! split is kept. The output depends only on the manifest, the config and the seed;
//! changing the assignment rules must bump [`crate::SPLIT_VERSION`].

mod assign;
mod config;
mod patients;
mod shuffle;
mod write;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

pub use config::{KFold, SplitConfig};

use crate::StageError;
use crate::image_set::{ImageSetManifest, MANIFEST_FILE};
use assign::Part;

/// What the split did.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SplitReport {
    /// Part ("train", "val", "test") → class → images.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// Part → patients.
    pub patients: BTreeMap<String, usize>,
    /// Patients with images of more than one class; each went with its majority class
    /// (ties: the class listed first in the manifest).
    pub mixed_class_patients: Vec<String>,
    /// With the data's own split: patients whose images were in more than one part.
    /// All their images went to the last of those parts in train < val < test order,
    /// so no test image ever lands in train or val.
    pub moved_patients: Vec<String>,
    /// Whether the records' own `split` was used instead of drawing a new one.
    pub used_existing: bool,
}

/// Splits the image set in `input_dir` by patient into three image sets written into
/// the empty directories `train_dir`, `val_dir` and `test_dir` (PNG files copied,
/// records' `split` cleared).
pub fn split_patient(
    input_dir: &Path,
    cfg: &SplitConfig,
    seed: u64,
    train_dir: &Path,
    val_dir: &Path,
    test_dir: &Path,
) -> Result<SplitReport, StageError> {
    cfg.validate()?;
    let manifest = ImageSetManifest::read(input_dir)?;
    let manifest_path = input_dir.join(MANIFEST_FILE);
    let patients = patients::Patients::collect(&manifest, &manifest_path)?;
    let existing = cfg.respect_existing
        && !manifest.images.is_empty()
        && manifest.images.iter().all(|image| image.split.is_some());
    let (assignment, moved) = if existing {
        if cfg.kfold.is_some() {
            return Err(StageError::InvalidConfig(
                "kfold conflicts with the data's own train/val/test split; set respect_existing: false to draw folds".to_owned(),
            ));
        }
        patients.existing_parts()
    } else {
        if cfg.respect_existing && manifest.images.iter().any(|image| image.split.is_some()) {
            tracing::info!("only some images carry a split; drawing a new one for all");
        }
        let groups = patients.groups(&manifest.classes);
        let assignment = match cfg.kfold {
            Some(KFold { k, fold }) => {
                assign::by_kfold(&groups, &manifest.classes, k, fold, cfg.val, seed)
            }
            None => assign::by_fractions(
                &groups,
                &manifest.classes,
                [cfg.train, cfg.val, cfg.test],
                seed,
            ),
        };
        (assignment, Vec::new())
    };
    let dirs = [
        (Part::Train, train_dir),
        (Part::Val, val_dir),
        (Part::Test, test_dir),
    ];
    let counts = write::write_parts(input_dir, &manifest, &assignment, &dirs)?;
    let mut patient_counts: BTreeMap<String, usize> = Part::ALL
        .iter()
        .map(|part| (part.name().to_owned(), 0))
        .collect();
    for part in assignment.values() {
        *patient_counts.entry(part.name().to_owned()).or_default() += 1;
    }
    let report = SplitReport {
        counts,
        patients: patient_counts,
        mixed_class_patients: patients.mixed(),
        moved_patients: moved,
        used_existing: existing,
    };
    for id in &report.moved_patients {
        tracing::warn!(patient = %id, "patient was in several parts of the data's own split; moved to one");
    }
    tracing::info!(
        seed,
        patients = ?report.patients,
        used_existing = existing,
        "split image set by patient"
    );
    Ok(report)
}
