//! The writer every loader feeds: label mapping, decoding, resizing, naming, manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::options::{IngestOptions, LabelMap, check_class_name};
use super::{IngestSummary, decode, out_dir, png_out, resize};
use crate::image_set::{IMAGE_SET_FORMAT, IMAGES_DIR, ImageRecord, ImageSetManifest};
use crate::{StageError, error_chain};

/// One input image as a loader found it, before label mapping.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub file: PathBuf,
    /// The data's own label, before `labels` aliases and the `classes` filter.
    pub label: String,
    pub patient_id: String,
    /// "train", "val" or "test" when the data comes split.
    pub split: Option<&'static str>,
}

/// Longest patient part of a file name, in bytes; file names are limited to 255.
const MAX_STEM: usize = 100;

pub(crate) struct Ingest<'a> {
    options: &'a IngestOptions,
    labels: LabelMap,
    out_dir: &'a Path,
    started: Instant,
    records: Vec<ImageRecord>,
    skipped: Vec<(String, String)>,
    dropped: BTreeMap<String, usize>,
    /// Without `size`: the first image's path and size, which all others must match.
    first: Option<(PathBuf, u32, u32)>,
    /// (class, file stem) → images named so far, for `<stem>-<n>.png`.
    names: BTreeMap<(String, String), u32>,
    class_dirs: BTreeSet<String>,
}

impl<'a> Ingest<'a> {
    /// Validates the options and checks that `out_dir` exists and is empty.
    pub(crate) fn new(options: &'a IngestOptions, out_dir: &'a Path) -> Result<Self, StageError> {
        let labels = options.label_map()?;
        out_dir::ensure_empty(out_dir)?;
        Ok(Self {
            options,
            labels,
            out_dir,
            started: Instant::now(),
            records: Vec::new(),
            skipped: Vec::new(),
            dropped: BTreeMap::new(),
            first: None,
            names: BTreeMap::new(),
            class_dirs: BTreeSet::new(),
        })
    }

    /// Counts an entry left out on purpose.
    pub(crate) fn drop_entry(&mut self, reason: impl Into<String>) {
        *self.dropped.entry(reason.into()).or_default() += 1;
    }

    /// Maps, decodes, resizes and writes one image (or drops or skips it).
    pub(crate) fn add(&mut self, candidate: Candidate) -> Result<(), StageError> {
        let label = match self.labels.resolve(&candidate.label) {
            Ok(label) => label,
            Err(reason) => {
                self.drop_entry(reason);
                return Ok(());
            }
        };
        if let Err(why) = check_class_name(&label) {
            return Err(StageError::InvalidData {
                path: candidate.file,
                reason: format!("its class {label:?} {why}; rename it with `labels`"),
            });
        }
        if candidate.patient_id.trim().is_empty() {
            return Err(StageError::InvalidData {
                path: candidate.file,
                reason: "its patient id is empty".to_owned(),
            });
        }
        let image = match decode::read_gray(&candidate.file) {
            Ok(image) => image,
            Err(err @ (StageError::Read { .. } | StageError::DecodeImage { .. }))
                if self.options.skip_bad =>
            {
                tracing::warn!(file = %candidate.file.display(), error = %error_chain(&err), "skipped a bad image");
                self.skipped
                    .push((candidate.file.display().to_string(), error_chain(&err)));
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        let image = match self.options.size {
            Some(size) => resize::square(image, size),
            None => {
                self.check_same_size(&candidate.file, image.width(), image.height())?;
                image
            }
        };
        let class_dir = self.out_dir.join(IMAGES_DIR).join(&label);
        if self.class_dirs.insert(label.clone()) {
            out_dir::create_dir_all(&class_dir)?;
        }
        let stem = file_stem_for(&candidate.patient_id);
        let n = self.names.entry((label.clone(), stem.clone())).or_default();
        *n += 1;
        let file = format!("{stem}-{n}.png");
        png_out::write_gray_png(&class_dir.join(&file), &image)?;
        self.records.push(ImageRecord {
            path: format!("{IMAGES_DIR}/{label}/{file}"),
            label,
            patient_id: candidate.patient_id,
            source: None,
            split: candidate.split.map(str::to_owned),
        });
        Ok(())
    }

    fn check_same_size(&mut self, path: &Path, width: u32, height: u32) -> Result<(), StageError> {
        match &self.first {
            None => {
                self.first = Some((path.to_owned(), width, height));
                Ok(())
            }
            Some((_, w, h)) if (*w, *h) == (width, height) => Ok(()),
            Some((first_path, w, h)) => Err(StageError::MixedImageSizes {
                path: path.to_owned(),
                width,
                height,
                first_path: first_path.clone(),
                first_width: *w,
                first_height: *h,
            }),
        }
    }

    /// Writes the manifest. `input` names the data in the error when nothing was kept.
    pub(crate) fn finish(self, input: &Path) -> Result<IngestSummary, StageError> {
        if self.records.is_empty() {
            return Err(StageError::NoImages {
                path: input.to_owned(),
            });
        }
        let (width, height) = match (self.options.size, &self.first) {
            (Some(size), _) => (size, size),
            (None, Some((_, w, h))) => (*w, *h),
            (None, None) => unreachable!("an image was written, so its size was recorded"),
        };
        let classes = match self.labels.kept() {
            Some(kept) => kept.to_vec(),
            None => self.class_dirs.iter().cloned().collect(),
        };
        let manifest = ImageSetManifest {
            format: IMAGE_SET_FORMAT,
            classes,
            width,
            height,
            images: self.records,
        };
        manifest.write(self.out_dir)?;
        tracing::info!(
            input = %input.display(),
            images = manifest.images.len(),
            skipped = self.skipped.len(),
            dropped = self.dropped.values().sum::<usize>(),
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "ingested image set"
        );
        Ok(IngestSummary {
            manifest,
            skipped: self.skipped,
            dropped: self.dropped,
        })
    }
}

/// A patient id as a file-name stem: only `[A-Za-z0-9._-]`, no leading dot, bounded
/// length. Ids that collide after this still get distinct `-<n>` numbers.
fn file_stem_for(patient_id: &str) -> String {
    let mut stem: String = patient_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.starts_with('.') {
        stem.replace_range(..1, "_");
    }
    stem.truncate(MAX_STEM);
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_file_names() {
        assert_eq!(file_stem_for("person12"), "person12");
        assert_eq!(file_stem_for("a/b c"), "a_b_c");
        assert_eq!(file_stem_for(".hidden"), "_hidden");
        assert_eq!(file_stem_for(&"x".repeat(300)).len(), MAX_STEM);
    }
}
