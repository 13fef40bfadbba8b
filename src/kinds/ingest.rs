//! `dataset.folder`, `dataset.csv`, `dataset.kermany`, `dataset.covid_chestxray`: a user's
//! images → a normalised image set. The data path is a path param, so the key holds the
//! content digest of the whole folder (or CSV) and editing an image reruns the stage.

use std::path::Path;

use augflow_stages::StageError;
use augflow_stages::data::{
    CovidChestXrayConfig, CsvConfig, FolderConfig, IngestSummary, KermanyConfig,
    load_covid_chestxray, load_csv, load_folder, load_kermany,
};

use super::{
    ArtifactType, KindContext, KindError, KindOutcome, KindSpec, Port, path_param, port, port_dir,
};
use crate::spec::Value;

const IMAGES_OUTPUT: &[Port] = &[port("images", ArtifactType::ImageSet)];

/// An ingestion kind: no inputs, one image set, the data named by one path param.
const fn ingest_spec(name: &'static str, data_param: &'static [&'static str]) -> KindSpec {
    KindSpec::new(name, augflow_stages::DATA_VERSION)
        .outputs(IMAGES_OUTPUT)
        .path_params(data_param)
}

pub const FOLDER: KindSpec = ingest_spec("dataset.folder", &["root"]);
pub const CSV: KindSpec = ingest_spec("dataset.csv", &["csv"]);
pub const KERMANY: KindSpec = ingest_spec("dataset.kermany", &["root"]);
pub const COVID_CHESTXRAY: KindSpec = ingest_spec("dataset.covid_chestxray", &["root"]);

pub fn folder(config: &FolderConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    ingest(ctx, "root", |base, out| load_folder(config, base, out))
}

pub fn csv(config: &CsvConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    ingest(ctx, "csv", |base, out| load_csv(config, base, out))
}

pub fn kermany(config: &KermanyConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    ingest(ctx, "root", |base, out| load_kermany(config, base, out))
}

pub fn covid_chestxray(
    config: &CovidChestXrayConfig,
    ctx: &KindContext<'_>,
) -> Result<KindOutcome, KindError> {
    ingest(ctx, "root", |base, out| {
        load_covid_chestxray(config, base, out)
    })
}

/// Loads the data named by path param `data` into the `images` output.
fn ingest(
    ctx: &KindContext<'_>,
    data: &str,
    load: impl FnOnce(&Path, &Path) -> Result<IngestSummary, StageError>,
) -> Result<KindOutcome, KindError> {
    let summary = load(path_param(ctx, data)?, port_dir(&ctx.outputs, "images")?)?;
    let mut outcome = KindOutcome::default();
    outcome.metadata.insert(
        "images".to_owned(),
        Value::from(summary.manifest.images.len()),
    );
    outcome
        .metadata
        .insert("skipped".to_owned(), Value::from(summary.skipped.len()));
    if let Ok(dropped) = serde_json::to_value(&summary.dropped) {
        outcome.metadata.insert("dropped".to_owned(), dropped);
    }
    Ok(outcome)
}
