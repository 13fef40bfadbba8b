//! `dataset.csv`: a CSV file that lists each image with its label and patient.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::IngestSummary;
use super::ingest::{Candidate, Ingest};
use super::options::ingest_config;
use super::part::parse_part;
use crate::StageError;

ingest_config! {
    /// Config of `dataset.csv`.
    ///
    /// The CSV has a header with the columns `path`, `label`, `patient_id` and optionally
    /// `split` (train/val/test), in any order and case; other columns are ignored.
    /// Relative paths are relative to the CSV file's folder.
    pub struct CsvConfig {
        /// The CSV file, as written in the pipeline; the engine resolves it and passes the
        /// result to [`load_csv`] as `base`.
        pub csv: PathBuf,
    }
}

impl CsvConfig {
    /// Checks everything the loader relies on, naming the offending value.
    pub fn validate(&self) -> Result<(), StageError> {
        self.options().validate()
    }
}

/// Reads the CSV file `base` (the resolved `csv`) and the images it lists into an image
/// set in the empty `out_dir`, in the CSV's row order.
pub fn load_csv(cfg: &CsvConfig, base: &Path, out_dir: &Path) -> Result<IngestSummary, StageError> {
    let options = cfg.options();
    let mut ingest = Ingest::new(&options, out_dir)?;
    let folder = base.parent().unwrap_or(Path::new(""));
    let table = Table::read(base, &["path", "label", "patient_id"], &["split"])?;
    for row in &table.rows {
        let field = |name: &str| row.get(name);
        let split = match field("split") {
            "" => None,
            value => Some(parse_part(value).ok_or_else(|| {
                row.invalid(format!("its split {value:?} is not train, val or test"))
            })?),
        };
        let path = field("path");
        if path.is_empty() {
            return Err(row.invalid("its path is empty".to_owned()));
        }
        if field("label").is_empty() {
            return Err(row.invalid("its label is empty".to_owned()));
        }
        if field("patient_id").is_empty() {
            return Err(row.invalid("its patient_id is empty".to_owned()));
        }
        ingest.add(Candidate {
            file: folder.join(path),
            label: field("label").to_owned(),
            patient_id: field("patient_id").to_owned(),
            split,
        })?;
    }
    ingest.finish(base)
}

/// A CSV file read into memory with the columns a loader asked for.
pub(crate) struct Table {
    pub rows: Vec<Row>,
}

pub(crate) struct Row {
    path: PathBuf,
    line: u64,
    values: BTreeMap<String, String>,
}

impl Row {
    /// A column's trimmed value; "" for an optional column the file lacks.
    pub(crate) fn get(&self, column: &str) -> &str {
        self.values.get(column).map_or("", String::as_str)
    }

    pub(crate) fn invalid(&self, reason: String) -> StageError {
        StageError::InvalidData {
            path: self.path.clone(),
            reason: format!("line {}: {reason}", self.line),
        }
    }
}

impl Table {
    /// Reads `path`, matching header names case-insensitively. A missing `required`
    /// column is an error naming the columns the file has.
    pub(crate) fn read(
        path: &Path,
        required: &[&str],
        optional: &[&str],
    ) -> Result<Self, StageError> {
        let csv_err = |source| StageError::ReadCsv {
            path: path.to_owned(),
            source,
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(csv_err)?;
        let headers = reader.headers().map_err(csv_err)?.clone();
        let index_of = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let mut columns = Vec::new();
        for &name in required {
            let Some(index) = index_of(name) else {
                return Err(StageError::InvalidData {
                    path: path.to_owned(),
                    reason: format!(
                        "it has no `{name}` column (its columns: {})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ),
                });
            };
            columns.push((name, index));
        }
        columns.extend(
            optional
                .iter()
                .filter_map(|&name| Some((name, index_of(name)?))),
        );
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(csv_err)?;
            let line = record.position().map_or(0, csv::Position::line);
            let values = columns
                .iter()
                .map(|&(name, index)| (name.to_owned(), record.get(index).unwrap_or("").to_owned()))
                .collect();
            rows.push(Row {
                path: path.to_owned(),
                line,
                values,
            });
        }
        Ok(Self { rows })
    }
}
