//! `report.study`: gathers every score (and optionally baseline, quality and sample)
//! artifact of the study and writes `report.html`, `tables.csv`, `tables.md` and the
//! numbers as `metrics.json`.

use std::collections::BTreeMap;
use std::path::Path;

use augflow_stages::image_set::ImageSetManifest;
use augflow_stages::{StageConfig, StageError};
use serde::Deserialize;

use super::ml::write_json;
use super::{
    ArtifactType, Gathered, KindContext, KindError, KindOutcome, KindSpec, gathered, port, port_dir,
};
use crate::spec::Value;
use augflow_stages::report::quality_checks::read_quality_check;
use augflow_stages::report::render::{SampleRow, csv, html, markdown};
use augflow_stages::report::study::{AxisNames, Run, StudyError, analyse, read_run};

/// 2: `metrics.json` holds `fid_name`; the FID scatter names its feature space.
/// 3: pooled per-generator tests, per-image tests, memorisation and class fidelity.
///
/// `more_scores`: further condition scores whose grid differs from `scores` (e.g. the
/// GAN's +5,000/+10,000 arm, which the other generators lack); pooled with them.
pub const SPEC: KindSpec = KindSpec::new("report.study", 3)
    .inputs(&[
        port("scores", ArtifactType::Metrics),
        port("more_scores", ArtifactType::Metrics),
        port("baseline", ArtifactType::Metrics),
        port("quality", ArtifactType::Metrics),
        port("real", ArtifactType::ImageSet),
        port("samples", ArtifactType::ImageSet),
    ])
    .outputs(&[port("report", ArtifactType::Metrics)])
    .gathering(&["scores", "more_scores", "baseline", "quality", "samples"])
    .optional(&["more_scores", "baseline", "quality", "real", "samples"]);

/// Config of `report.study`.
#[derive(Deserialize, Debug, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Which matrix axes are the generator, classifier, amount and repeat.
    #[serde(default)]
    axes: AxisNames,
    /// Example images per class and source in the image grid.
    #[serde(default = "default_examples")]
    examples: usize,
}

impl StageConfig for ReportConfig {}

fn default_examples() -> usize {
    6
}

pub fn report(config: &ReportConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let mut runs = read_runs(gathered(ctx, "scores"), &config.axes, false)?;
    runs.extend(read_runs(
        gathered(ctx, "more_scores"),
        &config.axes,
        false,
    )?);
    let baseline = read_runs(gathered(ctx, "baseline"), &config.axes, true)?;
    let mut quality = BTreeMap::new();
    let mut checks = Vec::new();
    let mut fid_names = std::collections::BTreeSet::new();
    for input in gathered(ctx, "quality") {
        let value = read_json(&input.dir.join("metrics.json"))?;
        let generator = axis_value(input, &config.axes.generator);
        checks.push(read_quality_check(&input.dir, &generator, &value).map_err(KindError::Params)?);
        if let Some(fid) = value["mean_class_fid"].as_f64() {
            quality.insert(generator, (fid, value["overall"]["kid"]["mean"].as_f64()));
            // Files written before Inception features existed are domain FIDs.
            fid_names.insert(
                value["fid_name"]
                    .as_str()
                    .unwrap_or("domain fid")
                    .to_owned(),
            );
        }
    }
    let mut study = analyse(&runs, &baseline, &quality, ctx.seed);
    study.quality_checks = checks;
    if fid_names.len() > 1 {
        study.fid_name = "mixed".to_owned();
        study.notes.push(format!(
            "the quality inputs mix feature spaces ({}): their FIDs are not comparable",
            fid_names.into_iter().collect::<Vec<_>>().join(", ")
        ));
    } else if let Some(name) = fid_names.pop_first() {
        study.fid_name = name;
    }
    let samples = match ctx.inputs.get("real") {
        Some(real) => sample_rows(real, gathered(ctx, "samples"), config)?,
        None => Vec::new(),
    };
    let dir = port_dir(&ctx.outputs, "report")?;
    write_text(&dir.join("report.html"), &html(&study, &samples))?;
    write_text(&dir.join("tables.csv"), &csv(&study))?;
    write_text(&dir.join("tables.md"), &markdown(&study))?;
    write_json(&dir.join("metrics.json"), &study)?;
    let mut outcome = KindOutcome::default();
    outcome
        .metadata
        .insert("cells".to_owned(), Value::from(study.cells.len()));
    outcome
        .metadata
        .insert("runs".to_owned(), Value::from(runs.len() + baseline.len()));
    Ok(outcome)
}

fn axis_value(input: &Gathered, axis: &str) -> String {
    input
        .axes
        .iter()
        .find(|(a, _)| a == axis)
        .map_or_else(|| "synthetic".to_owned(), |(_, v)| v.clone())
}

fn read_runs(inputs: &[Gathered], axes: &AxisNames, baseline: bool) -> Result<Vec<Run>, KindError> {
    inputs
        .iter()
        .map(|input| read_run(&input.dir, &input.axes, axes, baseline).map_err(study_error))
        .collect()
}

fn study_error(err: StudyError) -> KindError {
    KindError::Params(err.to_string())
}

fn read_json(path: &Path) -> Result<serde_json::Value, KindError> {
    let bytes = std::fs::read(path).map_err(|source| StageError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| {
        KindError::Stage(StageError::ParseJson {
            path: path.to_owned(),
            source,
        })
    })
}

fn write_text(path: &Path, text: &str) -> Result<(), KindError> {
    std::fs::write(path, text).map_err(|source| {
        KindError::Stage(StageError::Write {
            path: path.to_owned(),
            source,
        })
    })
}

/// The first `examples` images of each class, real and per generator.
fn sample_rows(
    real: &Path,
    samples: &[Gathered],
    config: &ReportConfig,
) -> Result<Vec<SampleRow>, KindError> {
    let first = |dir: &Path, class: &str| -> Result<Vec<Vec<u8>>, KindError> {
        let manifest = ImageSetManifest::read(dir)?;
        manifest
            .images
            .iter()
            .filter(|r| r.label == class)
            .take(config.examples)
            .map(|r| {
                let path = dir.join(&r.path);
                std::fs::read(&path)
                    .map_err(|source| KindError::Stage(StageError::Read { path, source }))
            })
            .collect()
    };
    let manifest = ImageSetManifest::read(real)?;
    manifest
        .classes
        .iter()
        .map(|class| {
            let mut synthetic = BTreeMap::new();
            for set in samples {
                synthetic.insert(
                    axis_value(set, &config.axes.generator),
                    first(&set.dir, class)?,
                );
            }
            Ok(SampleRow {
                class: class.clone(),
                real: first(real, class)?,
                synthetic,
            })
        })
        .collect()
}
