//! `augment.merge`: real training images plus synthetic ones → one training set. Every
//! record keeps its source (`None` = real, `synthetic:<generator>`), so the classifier's
//! training set says where each image came from.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StageError;
use crate::data::out_dir::{create_dir_all, ensure_empty};
use crate::image_set::{IMAGE_SET_FORMAT, ImageRecord, ImageSetManifest};

/// Config of `augment.merge`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// Synthetic images to add per class: the first `per_class` of each class, in the
    /// synthetic set's order (all when absent). Sampling the largest amount once and
    /// merging smaller amounts from it means a new amount never resamples.
    #[serde(default)]
    pub per_class: Option<usize>,
}

/// What the merge added, per class.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct MergeReport {
    pub real: BTreeMap<String, usize>,
    pub synthetic: BTreeMap<String, usize>,
}

/// Copies the real set and the chosen synthetic images into the empty `out_dir`. The
/// class list is the real set's; a synthetic image of another class, or fewer synthetic
/// images than `per_class` asks for, is an error.
pub fn merge_image_sets(
    real_dir: &Path,
    synthetic_dir: &Path,
    cfg: &MergeConfig,
    out_dir: &Path,
) -> Result<MergeReport, StageError> {
    ensure_empty(out_dir)?;
    let real = ImageSetManifest::read(real_dir)?;
    let synthetic = ImageSetManifest::read(synthetic_dir)?;
    let mut taken: BTreeMap<String, usize> = real.classes.iter().map(|c| (c.clone(), 0)).collect();
    let mut chosen = Vec::new();
    for record in &synthetic.images {
        let Some(count) = taken.get_mut(&record.label) else {
            return Err(StageError::UnknownClass {
                path: synthetic_dir.join(&record.path),
                class: record.label.clone(),
                known: real.classes.join(", "),
            });
        };
        if cfg.per_class.is_none_or(|n| *count < n) {
            *count += 1;
            chosen.push(record);
        }
    }
    if let Some(n) = cfg.per_class {
        let classes: BTreeSet<&String> = synthetic.images.iter().map(|r| &r.label).collect();
        for class in classes {
            if taken[class] < n {
                return Err(StageError::InvalidConfig(format!(
                    "per_class {n} asks for more synthetic {class:?} images than the {} sampled",
                    taken[class]
                )));
            }
        }
    }
    let mut records = Vec::with_capacity(real.images.len() + chosen.len());
    let mut paths = BTreeSet::new();
    for (dir, record, prefix) in real
        .images
        .iter()
        .map(|r| (real_dir, r, "real"))
        .chain(chosen.into_iter().map(|r| (synthetic_dir, r, "synthetic")))
    {
        // Namespaced so a real and a synthetic file can never collide.
        let rel = format!("{prefix}/{}", record.path);
        if !paths.insert(rel.clone()) {
            return Err(StageError::InvalidConfig(format!(
                "two images map to {rel}"
            )));
        }
        let dest = out_dir.join(&rel);
        if let Some(parent) = dest.parent() {
            create_dir_all(parent)?;
        }
        let src = dir.join(&record.path);
        fs::copy(&src, &dest).map_err(|source| StageError::Read { path: src, source })?;
        records.push(ImageRecord {
            path: rel,
            ..record.clone()
        });
    }
    let manifest = ImageSetManifest {
        format: IMAGE_SET_FORMAT,
        classes: real.classes.clone(),
        width: real.width,
        height: real.height,
        images: records,
    };
    manifest.write(out_dir)?;
    taken.retain(|_, n| *n > 0);
    Ok(MergeReport {
        real: real.counts_per_class(),
        synthetic: taken,
    })
}
