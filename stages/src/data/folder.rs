//! `dataset.folder`: one folder per class, optionally inside train/val/test folders.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::ingest::{Candidate, Ingest};
use super::options::ingest_config;
use super::part::parse_part;
use super::{IngestSummary, walk};
use crate::StageError;

ingest_config! {
    /// Config of `dataset.folder`: `root/<class>/**` or `root/{train,val,test}/<class>/**`.
    pub struct FolderConfig {
        /// The data folder, as written in the pipeline; the engine resolves it and passes
        /// the result to [`load_folder`] as `base`.
        pub root: PathBuf,
        /// A regex whose first capture group, applied to a file's stem, is the patient id,
        /// e.g. `^(patient\d+)_`. Default: the whole stem, i.e. one patient per image.
        #[serde(default)]
        pub patient_pattern: Option<String>,
    }
}

impl FolderConfig {
    /// Checks everything the loader relies on, naming the offending value.
    pub fn validate(&self) -> Result<(), StageError> {
        self.options().validate()?;
        self.patient_regex().map(|_| ())
    }

    fn patient_regex(&self) -> Result<Option<Regex>, StageError> {
        let Some(pattern) = &self.patient_pattern else {
            return Ok(None);
        };
        let regex = Regex::new(pattern).map_err(|err| {
            StageError::InvalidConfig(format!("patient_pattern {pattern:?} is not a regex: {err}"))
        })?;
        if regex.captures_len() < 2 {
            return Err(StageError::InvalidConfig(format!(
                "patient_pattern {pattern:?} has no capture group; put the patient id in (…)"
            )));
        }
        Ok(Some(regex))
    }
}

/// Reads `base` (the resolved `root`) into an image set in the empty `out_dir`.
///
/// If every sub-folder of `base` is named train, val or test (any case), they are the
/// data's own split and each holds class folders; records then carry their part.
/// Files at any depth below a class folder belong to that class.
pub fn load_folder(
    cfg: &FolderConfig,
    base: &Path,
    out_dir: &Path,
) -> Result<IngestSummary, StageError> {
    let options = cfg.options();
    let patients = cfg.patient_regex()?;
    let mut ingest = Ingest::new(&options, out_dir)?;
    let top = walk::list(base)?;
    for _ in &top.files {
        ingest.drop_entry("file outside a class folder");
    }
    let parts: Vec<_> = top
        .dirs
        .iter()
        .filter_map(|dir| Some((dir, parse_part(&name_of(dir))?)))
        .collect();
    if parts.is_empty() {
        for class_dir in &top.dirs {
            add_class(&mut ingest, class_dir, None, patients.as_ref())?;
        }
    } else if parts.len() == top.dirs.len() {
        for (part_dir, part) in parts {
            let inner = walk::list(part_dir)?;
            for _ in &inner.files {
                ingest.drop_entry("file outside a class folder");
            }
            for class_dir in &inner.dirs {
                add_class(&mut ingest, class_dir, Some(part), patients.as_ref())?;
            }
        }
    } else {
        let others: Vec<String> = top
            .dirs
            .iter()
            .map(|d| name_of(d))
            .filter(|name| parse_part(name).is_none())
            .collect();
        return Err(StageError::InvalidData {
            path: base.to_owned(),
            reason: format!(
                "it mixes split folders (train/val/test) with class folders ({}); use one layout",
                others.join(", ")
            ),
        });
    }
    ingest.finish(base)
}

fn add_class(
    ingest: &mut Ingest<'_>,
    class_dir: &Path,
    split: Option<&'static str>,
    patients: Option<&Regex>,
) -> Result<(), StageError> {
    let label = name_of(class_dir);
    for file in walk::files_below(class_dir)? {
        if !walk::is_image_file(&file)? {
            ingest.drop_entry("not an image file");
            continue;
        }
        let patient_id = patient_of(&file, patients)?;
        ingest.add(Candidate {
            file,
            label: label.clone(),
            patient_id,
            split,
        })?;
    }
    Ok(())
}

fn patient_of(file: &Path, pattern: Option<&Regex>) -> Result<String, StageError> {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(regex) = pattern else {
        return Ok(stem);
    };
    match regex.captures(&stem).and_then(|c| c.get(1)) {
        Some(id) if !id.as_str().is_empty() => Ok(id.as_str().to_owned()),
        _ => Err(StageError::InvalidData {
            path: file.to_owned(),
            reason: format!(
                "patient_pattern {:?} does not capture a patient id from {stem:?}",
                regex.as_str()
            ),
        }),
    }
}

pub(crate) fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
