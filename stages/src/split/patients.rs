//! The patients of an image set: their classes and, if given, their parts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::assign::{Groups, Part};
use crate::StageError;
use crate::data::part::parse_part;
use crate::image_set::ImageSetManifest;

pub(super) struct Patients {
    /// Patient → class index → images.
    classes: BTreeMap<String, BTreeMap<usize, usize>>,
    /// Patient → the parts its images carry (only when all images carry one).
    parts: BTreeMap<String, BTreeSet<Part>>,
}

impl Patients {
    /// Reads the patients from the manifest, rejecting labels outside its classes and
    /// `split` values other than train/val/test.
    pub(super) fn collect(manifest: &ImageSetManifest, path: &Path) -> Result<Self, StageError> {
        let invalid = |reason: String| StageError::InvalidData {
            path: path.to_owned(),
            reason,
        };
        let mut classes: BTreeMap<String, BTreeMap<usize, usize>> = BTreeMap::new();
        let mut parts: BTreeMap<String, BTreeSet<Part>> = BTreeMap::new();
        for image in &manifest.images {
            let class = manifest
                .classes
                .iter()
                .position(|c| *c == image.label)
                .ok_or_else(|| {
                    invalid(format!(
                        "{} has label {:?}, which is not in its classes",
                        image.path, image.label
                    ))
                })?;
            *classes
                .entry(image.patient_id.clone())
                .or_default()
                .entry(class)
                .or_default() += 1;
            if let Some(split) = &image.split {
                let part = parse_part(split).and_then(Part::from_name).ok_or_else(|| {
                    invalid(format!(
                        "{} has split {split:?}, not train, val or test",
                        image.path
                    ))
                })?;
                parts
                    .entry(image.patient_id.clone())
                    .or_default()
                    .insert(part);
            }
        }
        Ok(Self { classes, parts })
    }

    /// The class that decides a patient's part: most images, ties to the earlier class.
    fn majority(counts: &BTreeMap<usize, usize>) -> usize {
        counts
            .iter()
            .max_by_key(|&(&class, &n)| (n, std::cmp::Reverse(class)))
            .map_or(0, |(&class, _)| class)
    }

    /// Patient ids per class index (by majority class), each list sorted.
    pub(super) fn groups(&self, classes: &[String]) -> Groups {
        let mut groups: Groups = vec![Vec::new(); classes.len()];
        for (id, counts) in &self.classes {
            groups[Self::majority(counts)].push(id.clone());
        }
        groups
    }

    /// Patients with images of more than one class, sorted.
    pub(super) fn mixed(&self) -> Vec<String> {
        self.classes
            .iter()
            .filter(|(_, counts)| counts.len() > 1)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The data's own parts: each patient goes to the last of its parts (test over
    /// val over train). Returns the assignment and the patients that had several.
    pub(super) fn existing_parts(&self) -> (BTreeMap<String, Part>, Vec<String>) {
        let mut moved = Vec::new();
        let mut assignment = BTreeMap::new();
        for (id, parts) in &self.parts {
            if parts.len() > 1 {
                moved.push(id.clone());
            }
            if let Some(&last) = parts.last() {
                assignment.insert(id.clone(), last);
            }
        }
        (assignment, moved)
    }
}
