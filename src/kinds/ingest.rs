//! `dataset.folder`, `dataset.csv`, `dataset.kermany`, `dataset.covid_chestxray`: a user's
//! images → a normalised image set. The data path is a path param, so the key holds the
//! content digest of the whole folder (or CSV) and editing an image reruns the stage.

use std::collections::BTreeMap;
use std::path::Path;

use augflow_stages::StageError;
use augflow_stages::data::{
    CovidChestXrayConfig, CsvConfig, FolderConfig, IngestSummary, KermanyConfig,
    load_covid_chestxray, load_csv, load_folder, load_kermany,
};

use serde::de::DeserializeOwned;

use super::{
    ArtifactType, KindContext, KindError, KindOutcome, LegacyKind, Port, path_param, port_dir,
    typed_params,
};
use crate::spec::Value;

type Load<C> = fn(&C, &Path, &Path) -> Result<IngestSummary, StageError>;
type Validate<C> = fn(&C) -> Result<(), StageError>;

/// One ingestion kind: its name, the param naming its data, and the loader.
pub struct Ingest<C> {
    name: &'static str,
    path_params: &'static [&'static str],
    load: Load<C>,
    validate: Validate<C>,
}

const OUTPUTS: &[Port] = &[Port {
    name: "images",
    ty: ArtifactType::ImageSet,
}];

pub fn kinds() -> Vec<Box<dyn LegacyKind>> {
    vec![
        Box::new(Ingest::<FolderConfig> {
            name: "dataset.folder",
            path_params: &["root"],
            load: load_folder,
            validate: FolderConfig::validate,
        }),
        Box::new(Ingest::<CsvConfig> {
            name: "dataset.csv",
            path_params: &["csv"],
            load: load_csv,
            validate: CsvConfig::validate,
        }),
        Box::new(Ingest::<KermanyConfig> {
            name: "dataset.kermany",
            path_params: &["root"],
            load: load_kermany,
            validate: KermanyConfig::validate,
        }),
        Box::new(Ingest::<CovidChestXrayConfig> {
            name: "dataset.covid_chestxray",
            path_params: &["root"],
            load: load_covid_chestxray,
            validate: CovidChestXrayConfig::validate,
        }),
    ]
}

impl<C: DeserializeOwned + Send + Sync> LegacyKind for Ingest<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn version(&self) -> u32 {
        augflow_stages::DATA_VERSION
    }

    fn inputs(&self) -> &'static [Port] {
        &[]
    }

    fn outputs(&self) -> &'static [Port] {
        OUTPUTS
    }

    fn path_params(&self) -> &'static [&'static str] {
        self.path_params
    }

    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
        let config: C = typed_params(params)?;
        (self.validate)(&config).map_err(|err| err.to_string())
    }

    fn run(
        &self,
        params: &BTreeMap<String, Value>,
        ctx: &KindContext<'_>,
    ) -> Result<KindOutcome, KindError> {
        let config: C = typed_params(params).map_err(KindError::Params)?;
        let base = path_param(ctx, self.path_params[0])?;
        let summary = (self.load)(&config, base, port_dir(&ctx.outputs, "images")?)?;
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
}
