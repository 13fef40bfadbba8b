//! Fixtures shared by the classifier tests: a small phantom data set split by patient.

#![allow(dead_code)] // Each test binary uses a different part.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use augflow_stages::backend::SelectedDevice;
use augflow_stages::classifiers::{
    Architecture, AugmentConfig, TrainClassifierConfig, TrainReport, train_classifier,
};
use augflow_stages::image_set::{IMAGE_SET_FORMAT, ImageRecord, ImageSetManifest};
use augflow_stages::phantom::{PHANTOM_CLASSES, PhantomConfig, generate_phantom};
use augflow_stages::{StageError, StageIo};

/// A phantom set of `per_class` (≥ 5) 32-px images per class, split by patient into
/// train/val/test image sets (3:1:1 of each class's patients). Patients have two images
/// each from 10 images per class up, else one.
pub struct Splits {
    _root: tempfile::TempDir,
    pub train: PathBuf,
    pub val: PathBuf,
    pub test: PathBuf,
}

impl Splits {
    /// Trains `cfg` on `train`, validating on `val`, into `out`: no progress shown,
    /// cancelled when `cancel` is set.
    pub fn fit(
        &self,
        cfg: &TrainClassifierConfig,
        seed: u64,
        out: &Path,
        device: &SelectedDevice,
        cancel: &AtomicBool,
    ) -> Result<TrainReport, StageError> {
        train_classifier(
            cfg,
            seed,
            &self.train,
            &self.val,
            &StageIo::without_progress(out, device, cancel),
        )
    }
}

pub fn phantom_splits(per_class: u32, seed: u64) -> Splits {
    let root = tempfile::tempdir().unwrap();
    let all = root.path().join("all");
    fs::create_dir(&all).unwrap();
    let cfg = PhantomConfig {
        size: 32,
        classes: PHANTOM_CLASSES
            .iter()
            .map(|c| (c.to_string(), per_class))
            .collect(),
        images_per_patient: if per_class >= 10 { 2 } else { 1 },
    };
    let manifest = generate_phantom(&cfg, seed, &all).unwrap();
    let parts = ["train", "val", "test"].map(|p| root.path().join(p));
    let mut records: [Vec<ImageRecord>; 3] = Default::default();
    for record in &manifest.images {
        // Patient ids end in a 4-digit number per class: 1-3 train, 4 val, 5 test, …
        let number: u32 = record
            .patient_id
            .rsplit('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let part = match number % 5 {
            1..=3 => 0,
            4 => 1,
            _ => 2,
        };
        records[part].push(record.clone());
    }
    for (dir, records) in parts.iter().zip(records) {
        fs::create_dir_all(dir).unwrap();
        for record in &records {
            let dest = dir.join(&record.path);
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            fs::copy(all.join(&record.path), dest).unwrap();
        }
        ImageSetManifest {
            format: IMAGE_SET_FORMAT,
            classes: manifest.classes.clone(),
            width: 32,
            height: 32,
            images: records,
        }
        .write(dir)
        .unwrap();
    }
    let [train, val, test] = parts;
    Splits {
        _root: root,
        train,
        val,
        test,
    }
}

/// A CI-sized config: tiny width and depth, 32-px images.
pub fn tiny_config(architecture: Architecture, epochs: usize) -> TrainClassifierConfig {
    TrainClassifierConfig {
        width: 0.25,
        depth: 0.3,
        image_size: 32,
        batch_size: 8,
        epochs,
        lr: 2e-3,
        augment: AugmentConfig::default(),
        ..TrainClassifierConfig::new(architecture)
    }
}

/// Every file directly inside `dir`, sorted, with its bytes.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    out
}
