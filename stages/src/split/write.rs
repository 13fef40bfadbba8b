//! Writing the three parts as image sets.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path};

use super::assign::Part;
use crate::StageError;
use crate::data::out_dir;
use crate::image_set::{ImageRecord, ImageSetManifest, MANIFEST_FILE};

/// Copies each image into its patient's part and writes the parts' manifests.
/// Returns part → class → images.
pub(super) fn write_parts(
    input_dir: &Path,
    manifest: &ImageSetManifest,
    assignment: &BTreeMap<String, Part>,
    dirs: &[(Part, &Path); 3],
) -> Result<BTreeMap<String, BTreeMap<String, usize>>, StageError> {
    let distinct: BTreeSet<&Path> = dirs.iter().map(|&(_, dir)| dir).collect();
    if distinct.len() != dirs.len() {
        return Err(StageError::InvalidConfig(
            "train, val and test need three different output directories".to_owned(),
        ));
    }
    for &(_, dir) in dirs {
        out_dir::ensure_empty(dir)?;
    }
    let mut records: BTreeMap<Part, Vec<ImageRecord>> = BTreeMap::new();
    let mut made: BTreeSet<std::path::PathBuf> = BTreeSet::new();
    for image in &manifest.images {
        check_relative(&image.path, &input_dir.join(MANIFEST_FILE))?;
        let part =
            assignment
                .get(&image.patient_id)
                .copied()
                .ok_or_else(|| StageError::InvalidData {
                    path: input_dir.join(MANIFEST_FILE),
                    reason: format!(
                        "patient {:?} of {} has no part",
                        image.patient_id, image.path
                    ),
                })?;
        let dir = dirs[part as usize].1;
        let from = input_dir.join(&image.path);
        let to = dir.join(&image.path);
        if let Some(parent) = to.parent()
            && made.insert(parent.to_owned())
        {
            out_dir::create_dir_all(parent)?;
        }
        fs::copy(&from, &to).map_err(|source| StageError::Copy {
            from: from.clone(),
            to: to.clone(),
            source,
        })?;
        records.entry(part).or_default().push(ImageRecord {
            split: None,
            ..image.clone()
        });
    }
    let mut counts = BTreeMap::new();
    for &(part, dir) in dirs {
        let part_manifest = ImageSetManifest {
            format: manifest.format,
            classes: manifest.classes.clone(),
            width: manifest.width,
            height: manifest.height,
            images: records.remove(&part).unwrap_or_default(),
        };
        part_manifest.write(dir)?;
        counts.insert(part.name().to_owned(), part_manifest.counts_per_class());
    }
    Ok(counts)
}

/// Manifest paths must stay inside the image set: relative, no `..`.
fn check_relative(path: &str, manifest: &Path) -> Result<(), StageError> {
    let ok = !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(StageError::InvalidData {
            path: manifest.to_owned(),
            reason: format!("image path {path:?} is not a relative path inside the image set"),
        })
    }
}
