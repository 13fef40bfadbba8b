//! `dataset.kermany`: the public pediatric pneumonia set (Kermany et al. 2018),
//! `chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg`.
//!
//! Its classes come from folders and file names: NORMAL → healthy;
//! `person1_bacteria_1.jpeg` → bacterial; `person1_virus_6.jpeg` → viral. Patients come
//! from `person<N>`, and for NORMAL files (`IM-0115-0001.jpeg`,
//! `NORMAL2-IM-1427-0001.jpeg`) from the IM number; both series share one IM
//! namespace here, since merging two patients is harmless but splitting one leaks.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use super::folder::name_of;
use super::ingest::{Candidate, Ingest};
use super::options::ingest_config;
use super::part::parse_part;
use super::{IngestSummary, walk};
use crate::StageError;

ingest_config! {
    /// Config of `dataset.kermany`.
    pub struct KermanyConfig {
        /// The `chest_xray` folder (or the folder holding it), as written in the pipeline;
        /// the engine resolves it and passes the result to [`load_kermany`] as `base`.
        pub root: PathBuf,
    }
}

impl KermanyConfig {
    /// Checks everything the loader relies on, naming the offending value.
    pub fn validate(&self) -> Result<(), StageError> {
        self.options().validate()
    }
}

static PERSON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^person(\d+)_").expect("a valid static regex"));
static NORMAL_IM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?:^|-)IM-(\d+)-").expect("a valid static regex"));

/// Reads the Kermany layout below `base` into an image set in the empty `out_dir`;
/// records carry their part (train/val/test).
pub fn load_kermany(
    cfg: &KermanyConfig,
    base: &Path,
    out_dir: &Path,
) -> Result<IngestSummary, StageError> {
    let options = cfg.options();
    let mut ingest = Ingest::new(&options, out_dir)?;
    let root = find_root(base)?;
    for part_dir in walk::list(&root)?.dirs {
        let Some(part) = parse_part(&name_of(&part_dir)) else {
            ingest.drop_entry("folder other than train/val/test");
            continue;
        };
        for class_dir in walk::list(&part_dir)?.dirs {
            let folder = name_of(&class_dir);
            let normal = folder.eq_ignore_ascii_case("NORMAL");
            if !normal && !folder.eq_ignore_ascii_case("PNEUMONIA") {
                ingest.drop_entry("folder other than NORMAL/PNEUMONIA");
                continue;
            }
            for file in walk::files_below(&class_dir)? {
                if !walk::is_image_file(&file)? {
                    ingest.drop_entry("not an image file");
                    continue;
                }
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let label = if normal {
                    "healthy"
                } else {
                    let lower = stem.to_lowercase();
                    if lower.contains("bacteria") {
                        "bacterial"
                    } else if lower.contains("virus") {
                        "viral"
                    } else {
                        ingest.drop_entry("pneumonia file name names neither bacteria nor virus");
                        continue;
                    }
                };
                let patient_id = patient_of(&stem, normal);
                ingest.add(Candidate {
                    file,
                    label: label.to_owned(),
                    patient_id,
                    split: Some(part),
                })?;
            }
        }
    }
    ingest.finish(base)
}

/// `base` itself when it holds train/test folders, else `base/chest_xray` (the Kaggle
/// download nests the data one level deeper).
fn find_root(base: &Path) -> Result<PathBuf, StageError> {
    let has_parts = |dir: &Path| -> Result<bool, StageError> {
        Ok(walk::list(dir)?
            .dirs
            .iter()
            .any(|d| parse_part(&name_of(d)).is_some()))
    };
    if has_parts(base)? {
        return Ok(base.to_owned());
    }
    let nested = base.join("chest_xray");
    if nested.is_dir() && has_parts(&nested)? {
        return Ok(nested);
    }
    Err(StageError::InvalidData {
        path: base.to_owned(),
        reason: "it holds no train/val/test folders (nor does its chest_xray folder)".to_owned(),
    })
}

/// `person<N>` or `IM-<NNNN>`; the whole stem (one patient per image) for names that
/// follow neither scheme.
fn patient_of(stem: &str, normal: bool) -> String {
    let (regex, prefix) = if normal {
        (&*NORMAL_IM, "IM-")
    } else {
        (&*PERSON, "person")
    };
    let number = regex
        .captures(stem)
        .and_then(|c| c.get(1))
        .and_then(|n| n.as_str().parse::<u64>().ok());
    match number {
        Some(n) if normal => format!("{prefix}{n:04}"),
        Some(n) => format!("{prefix}{n}"),
        None => {
            tracing::warn!(
                stem,
                "kermany file name without a patient number; one patient per image"
            );
            stem.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patients_come_from_person_and_im_numbers() {
        assert_eq!(patient_of("person1_bacteria_1", false), "person1");
        assert_eq!(patient_of("person1002_virus_1684", false), "person1002");
        assert_eq!(patient_of("IM-0115-0001", true), "IM-0115");
        assert_eq!(patient_of("NORMAL2-IM-1427-0001", true), "IM-1427");
        assert_eq!(patient_of("odd", true), "odd");
    }
}
