//! The reader study: `report.reader_study` (real + synthetic image sets → a blinded HTML
//! page and its key) and `score.reader_study` (the page's key + the readers' downloaded
//! answers, a path param → ratings per generator, accuracy, agreement).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use augflow_stages::image_set::ImageSetManifest;
use augflow_stages::{StageConfig, StageError};
use serde::Deserialize;

use super::ml::write_json;
use super::{
    ArtifactType, KindContext, KindError, KindOutcome, KindSpec, gathered, path_param, port,
    port_dir,
};
use crate::spec::Value;
use augflow_stages::report::reader_page::{Candidate, Key, blind, page};
use augflow_stages::report::reader_score::{read_answers, score};

pub const PAGE: KindSpec = KindSpec::new("report.reader_study", 1)
    .inputs(&[
        port("real", ArtifactType::ImageSet),
        port("samples", ArtifactType::ImageSet),
    ])
    .outputs(&[port("page", ArtifactType::Metrics)])
    .gathering(&["samples"]);

pub const SCORE: KindSpec = KindSpec::new("score.reader_study", 1)
    .inputs(&[port("page", ArtifactType::Metrics)])
    .outputs(&[port("scores", ArtifactType::Metrics)])
    .path_params(&["responses"]);

/// The page's file name inside the `page` artifact.
pub const PAGE_FILE: &str = "reader-study.html";
const KEY_FILE: &str = "key.json";
/// Most answers files read from a `responses` folder.
const MAX_READERS: usize = 100;

#[derive(Deserialize, Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageConfig {
    /// Real images per class on the page.
    #[serde(default = "five")]
    real_per_class: usize,
    /// Synthetic images per class and generator.
    #[serde(default = "five")]
    synthetic_per_class: usize,
    /// Classes to show; default: every class of `real`.
    #[serde(default)]
    classes: Option<Vec<String>>,
    /// Which matrix axis of `samples` names the generator.
    #[serde(default = "generator_axis")]
    generator_axis: String,
    #[serde(default = "default_title")]
    title: String,
}

impl StageConfig for PageConfig {
    fn validate(&self) -> Result<(), StageError> {
        if self.real_per_class == 0 && self.synthetic_per_class == 0 {
            return Err(StageError::InvalidConfig(
                "real_per_class and synthetic_per_class are both 0".to_owned(),
            ));
        }
        if self.real_per_class > 1000 || self.synthetic_per_class > 1000 {
            return Err(StageError::InvalidConfig(
                "at most 1000 images per class and source fit on a page".to_owned(),
            ));
        }
        Ok(())
    }
}

fn five() -> usize {
    5
}
fn generator_axis() -> String {
    "generator".to_owned()
}
fn default_title() -> String {
    "Chest radiograph reader study".to_owned()
}

#[derive(Deserialize, Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreConfig {
    /// A readers' answers file, or a folder of them (`*.json`, one per reader).
    responses: String,
}

impl StageConfig for ScoreConfig {
    fn validate(&self) -> Result<(), StageError> {
        if self.responses.trim().is_empty() {
            return Err(StageError::InvalidConfig(
                "`responses` is empty: name the answers file or folder".to_owned(),
            ));
        }
        Ok(())
    }
}

fn read_image(dir: &Path, rel: &str) -> Result<Vec<u8>, KindError> {
    let path = dir.join(rel);
    std::fs::read(&path).map_err(|source| KindError::Stage(StageError::Read { path, source }))
}

pub fn reader_page(config: &PageConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let real_dir = port_dir(&ctx.inputs, "real")?;
    let real = ImageSetManifest::read(real_dir)?;
    let classes = config.classes.clone().unwrap_or(real.classes.clone());
    let mut sources: Vec<(String, &Path, usize)> =
        vec![("real".to_owned(), real_dir.as_path(), config.real_per_class)];
    for set in gathered(ctx, "samples") {
        let name = set
            .axes
            .iter()
            .find(|(axis, _)| *axis == config.generator_axis)
            .map_or_else(|| "synthetic".to_owned(), |(_, v)| v.clone());
        sources.push((name, set.dir.as_path(), config.synthetic_per_class));
    }
    let mut candidates = Vec::new();
    for (source, dir, count) in &sources {
        let manifest = ImageSetManifest::read(dir)?;
        for class in &classes {
            for record in manifest
                .images
                .iter()
                .filter(|r| &r.label == class)
                .take(*count)
            {
                candidates.push(Candidate {
                    source: source.clone(),
                    class: class.clone(),
                    path: record.path.clone(),
                    png: read_image(dir, &record.path)?,
                });
            }
        }
    }
    let (key, shown) = blind(candidates, ctx.seed);
    let dir = port_dir(&ctx.outputs, "page")?;
    let html = page(&key, &shown, &config.title);
    std::fs::write(dir.join(PAGE_FILE), html).map_err(|source| {
        KindError::Stage(StageError::Write {
            path: dir.join(PAGE_FILE),
            source,
        })
    })?;
    write_json(&dir.join(KEY_FILE), &key)?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for item in &key.items {
        *counts.entry(&item.source).or_default() += 1;
    }
    write_json(
        &dir.join("metrics.json"),
        &serde_json::json!({"study": key.study, "images": key.items.len(), "per_source": counts}),
    )?;
    let mut outcome = KindOutcome::default();
    outcome
        .metadata
        .insert("images".to_owned(), Value::from(key.items.len()));
    Ok(outcome)
}

/// `responses` is read through its resolved path param.
pub fn score_readers(_: &ScoreConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let responses = path_param(ctx, "responses")?;
    let page_dir = port_dir(&ctx.inputs, "page")?;
    let key_path = page_dir.join(KEY_FILE);
    let key: Key = serde_json::from_slice(&std::fs::read(&key_path).map_err(|source| {
        KindError::Stage(StageError::Read {
            path: key_path.clone(),
            source,
        })
    })?)
    .map_err(|source| {
        KindError::Stage(StageError::ParseJson {
            path: key_path.clone(),
            source,
        })
    })?;
    let files = answer_files(responses)?;
    let readers = files
        .iter()
        .map(|f| read_answers(f, &key))
        .collect::<Result<Vec<_>, _>>()
        .map_err(KindError::Params)?;
    let scores = score(&key, &readers);
    let dir = port_dir(&ctx.outputs, "scores")?;
    write_json(&dir.join("metrics.json"), &scores)?;
    let mut outcome = KindOutcome::default();
    outcome
        .metadata
        .insert("readers".to_owned(), Value::from(readers.len()));
    if let Some(acc) = &scores.accuracy {
        outcome
            .metadata
            .insert("accuracy".to_owned(), Value::from(acc.value));
    }
    Ok(outcome)
}

/// The answers file, or the `*.json` files of the folder, sorted (symlinks are not
/// followed out of the project: the engine resolved and checked the path).
fn answer_files(path: &Path) -> Result<Vec<PathBuf>, KindError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| {
        KindError::Stage(StageError::Read {
            path: path.to_owned(),
            source,
        })
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|source| {
        KindError::Stage(StageError::Read {
            path: path.to_owned(),
            source,
        })
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(KindError::Params(format!(
            "find answers in {}: no *.json file",
            path.display()
        )));
    }
    if files.len() > MAX_READERS {
        return Err(KindError::Params(format!(
            "read answers in {}: more than {MAX_READERS} files",
            path.display()
        )));
    }
    Ok(files)
}
