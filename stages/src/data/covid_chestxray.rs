//! `dataset.covid_chestxray`: the ieee8023 covid-chestxray-dataset (Cohen et al.),
//! `metadata.csv` plus the image folders it names.
//!
//! Only frontal X-rays are kept (modality "X-ray"; views PA, AP, AP Supine,
//! AP semi erect). Findings map to classes: `Pneumonia/Viral/COVID-19` → covid19,
//! other `Pneumonia/Viral/…` → viral, `Pneumonia/Bacterial/…` → bacterial,
//! `Pneumonia/Fungal/…` → fungal, `No Finding` → healthy. Everything else is dropped
//! and counted by reason. Patient ids are the data set's own `patientid`.

use std::path::{Path, PathBuf};

use super::IngestSummary;
use super::csv_list::Table;
use super::ingest::{Candidate, Ingest};
use super::options::ingest_config;
use crate::StageError;

/// The metadata file at the data set's root.
const METADATA_FILE: &str = "metadata.csv";

/// Frontal views, as spelled in the metadata (compared case-insensitively).
const FRONTAL_VIEWS: [&str; 4] = ["PA", "AP", "AP Supine", "AP semi erect"];

ingest_config! {
    /// Config of `dataset.covid_chestxray`.
    pub struct CovidChestXrayConfig {
        /// The data set's root folder (holding `metadata.csv`), as written in the pipeline;
        /// the engine resolves it and passes the result to [`load_covid_chestxray`] as `base`.
        pub root: PathBuf,
    }
}

impl CovidChestXrayConfig {
    /// Checks everything the loader relies on, naming the offending value.
    pub fn validate(&self) -> Result<(), StageError> {
        self.options().validate()
    }
}

/// Reads `base/metadata.csv` and the images it names into an image set in the empty
/// `out_dir`, in the metadata's row order.
pub fn load_covid_chestxray(
    cfg: &CovidChestXrayConfig,
    base: &Path,
    out_dir: &Path,
) -> Result<IngestSummary, StageError> {
    let options = cfg.options();
    let mut ingest = Ingest::new(&options, out_dir)?;
    let metadata = base.join(METADATA_FILE);
    let table = Table::read(
        &metadata,
        &[
            "patientid",
            "finding",
            "view",
            "modality",
            "folder",
            "filename",
        ],
        &[],
    )?;
    for row in &table.rows {
        let modality = row.get("modality");
        if !modality.eq_ignore_ascii_case("X-ray") {
            ingest.drop_entry(format!("modality {modality:?}"));
            continue;
        }
        let view = row.get("view");
        if !FRONTAL_VIEWS.iter().any(|v| v.eq_ignore_ascii_case(view)) {
            ingest.drop_entry(format!("view {view:?}"));
            continue;
        }
        let finding = row.get("finding");
        let Some(class) = class_of(finding) else {
            ingest.drop_entry(format!("finding {finding:?}"));
            continue;
        };
        let (folder, filename) = (row.get("folder"), row.get("filename"));
        if filename.is_empty() {
            return Err(row.invalid("its filename is empty".to_owned()));
        }
        if row.get("patientid").is_empty() {
            return Err(row.invalid("its patientid is empty".to_owned()));
        }
        ingest.add(Candidate {
            file: base.join(folder).join(filename),
            label: class.to_owned(),
            patient_id: row.get("patientid").to_owned(),
            split: None,
        })?;
    }
    ingest.finish(base)
}

/// The study class of a `finding` (a `/`-separated hierarchy), if it is one.
fn class_of(finding: &str) -> Option<&'static str> {
    let levels: Vec<String> = finding
        .split('/')
        .map(|level| level.trim().to_lowercase())
        .collect();
    let levels: Vec<&str> = levels.iter().map(String::as_str).collect();
    match levels.as_slice() {
        ["no finding"] => Some("healthy"),
        ["pneumonia", "viral", "covid-19", ..] => Some("covid19"),
        ["pneumonia", "viral", ..] => Some("viral"),
        ["pneumonia", "bacterial", ..] => Some("bacterial"),
        ["pneumonia", "fungal", ..] => Some("fungal"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_map_to_classes() {
        assert_eq!(class_of("Pneumonia/Viral/COVID-19"), Some("covid19"));
        assert_eq!(class_of("Pneumonia/Viral/SARS"), Some("viral"));
        assert_eq!(class_of("Pneumonia/Viral/Influenza/H1N1"), Some("viral"));
        assert_eq!(
            class_of("Pneumonia/Bacterial/Streptococcus"),
            Some("bacterial")
        );
        assert_eq!(class_of("Pneumonia/Fungal/Pneumocystis"), Some("fungal"));
        assert_eq!(class_of("No Finding"), Some("healthy"));
        assert_eq!(class_of("Pneumonia"), None);
        assert_eq!(class_of("Tuberculosis"), None);
        assert_eq!(class_of("Pneumonia/Aspiration"), None);
    }
}
