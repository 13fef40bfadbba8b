//! The image-set artifact shared by all data stages.
//!
//! An image set is a directory holding `images/<class>/<file>.png` and a manifest,
//! `images.json`, that lists every image with its label and patient. Stages read the
//! manifest rather than walking the directory, so the file order and the labels are
//! explicit and hashed with the artifact.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StageError;
use crate::json_file::read_versioned;

/// Version of the manifest layout; readers reject any other value.
pub const IMAGE_SET_FORMAT: u32 = 1;
/// File name of the manifest inside an image-set directory.
pub const MANIFEST_FILE: &str = "images.json";
/// Directory, inside an image set, that holds one sub-directory per class.
pub const IMAGES_DIR: &str = "images";

/// The manifest of an image set (`images.json`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageSetManifest {
    /// Always [`IMAGE_SET_FORMAT`].
    pub format: u32,
    /// Class names, in the order that defines label indices.
    pub classes: Vec<String>,
    pub width: u32,
    pub height: u32,
    pub images: Vec<ImageRecord>,
}

/// One image of an image set.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageRecord {
    /// Path relative to the image-set directory, with '/' separators.
    pub path: String,
    /// Class name; one of the manifest's `classes`.
    pub label: String,
    /// Images of one patient must stay on one side of any train/test split.
    pub patient_id: String,
    /// Where a synthetic image came from, e.g. "synthetic:gan"; `None` for real images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The part ("train", "val" or "test") the data's own layout put the image in, if any;
    /// the patient split uses it instead of drawing one when every image has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
}

impl ImageSetManifest {
    /// Reads `dir/images.json`, rejecting unknown fields and other format versions.
    pub fn read(dir: &Path) -> Result<Self, StageError> {
        read_versioned(&dir.join(MANIFEST_FILE), IMAGE_SET_FORMAT, |file: &Self| {
            file.format
        })
    }

    /// Writes `dir/images.json` as pretty JSON. It goes through a temporary file and a
    /// rename so that a crash never leaves a half-written manifest behind.
    pub fn write(&self, dir: &Path) -> Result<(), StageError> {
        let path = dir.join(MANIFEST_FILE);
        let write_err = |source| StageError::Write {
            path: path.clone(),
            source,
        };
        let mut json =
            serde_json::to_vec_pretty(self).map_err(|source| StageError::SerializeManifest {
                path: path.clone(),
                source,
            })?;
        json.push(b'\n');
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
        tmp.write_all(&json).map_err(write_err)?;
        tmp.persist(&path).map_err(|err| write_err(err.error))?;
        Ok(())
    }

    /// Number of images per class, including declared classes that have no image.
    pub fn counts_per_class(&self) -> BTreeMap<String, usize> {
        let mut counts: BTreeMap<String, usize> =
            self.classes.iter().map(|c| (c.clone(), 0)).collect();
        for image in &self.images {
            *counts.entry(image.label.clone()).or_default() += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn sample() -> ImageSetManifest {
        ImageSetManifest {
            format: IMAGE_SET_FORMAT,
            classes: vec!["healthy".into(), "viral".into()],
            width: 64,
            height: 64,
            images: vec![
                ImageRecord {
                    path: "images/healthy/a-1.png".into(),
                    label: "healthy".into(),
                    patient_id: "a".into(),
                    source: None,
                    split: None,
                },
                ImageRecord {
                    path: "images/healthy/b-1.png".into(),
                    label: "healthy".into(),
                    patient_id: "b".into(),
                    source: Some("synthetic:gan".into()),
                    split: None,
                },
            ],
        }
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = sample();
        manifest.write(dir.path()).unwrap();
        assert_eq!(ImageSetManifest::read(dir.path()).unwrap(), manifest);
        let text = fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(text.contains("\"synthetic:gan\""));
        assert_eq!(text.matches("\"source\"").count(), 1, "None is omitted");
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }

    #[test]
    fn counts_include_empty_classes() {
        let counts = sample().counts_per_class();
        assert_eq!(counts["healthy"], 2);
        assert_eq!(counts["viral"], 0);
    }

    #[test]
    fn read_rejects_other_formats_and_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = sample();
        manifest.format = 2;
        manifest.write(dir.path()).unwrap();
        let err = ImageSetManifest::read(dir.path()).unwrap_err();
        assert!(matches!(
            err,
            StageError::UnsupportedFormat { found: 2, .. }
        ));

        let json = r#"{"format":1,"classes":[],"width":1,"height":1,"images":[],"extra":0}"#;
        fs::write(dir.path().join(MANIFEST_FILE), json).unwrap();
        let err = ImageSetManifest::read(dir.path()).unwrap_err();
        assert!(matches!(err, StageError::ParseJson { .. }));
    }

    #[test]
    fn read_of_missing_manifest_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = ImageSetManifest::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains(MANIFEST_FILE), "{err}");
    }
}
