//! The study's numbers: scores grouped into cells (generator × classifier × amount) over
//! repeats, each compared with the baseline of the same classifier, paired by repeat.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::pooled::{Pooled, pooled};
use super::quality_checks::QualityCheck;
pub use super::runs::{Delta, Run, amount_key};
use super::stats::{
    BootstrapConfig, PermutationConfig, holm_adjust, paired_differences, paired_mean_difference_ci,
    pearson, sign_flip_test, spearman,
};

/// The metrics the report compares, in table order.
pub const METRICS: [&str; 3] = ["accuracy", "balanced_accuracy", "macro_f1"];

/// Which matrix axes name the generator, classifier, amount and repeat.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AxisNames {
    pub generator: String,
    pub classifier: String,
    pub amount: String,
    pub repeat: String,
}

impl Default for AxisNames {
    fn default() -> Self {
        Self {
            generator: "generator".to_owned(),
            classifier: "classifier".to_owned(),
            amount: "amount".to_owned(),
            repeat: "repeat".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error("read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("parse {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("find axis `{axis}` in the inputs of {what}: its nodes have axes {axes:?}")]
    MissingAxis {
        axis: String,
        what: String,
        axes: Vec<String>,
    },
}

/// Reads a `score.classifier` metrics file. `axes` are the node's matrix values; axes
/// absent there (e.g. no generator in a baseline) read as `none` / `0`.
pub fn read_run(
    dir: &Path,
    axes: &[(String, String)],
    names: &AxisNames,
    baseline: bool,
) -> Result<Run, StudyError> {
    let path = dir.join("metrics.json");
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| StudyError::Read {
        path: shown.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|err| StudyError::Parse {
            path: shown.clone(),
            reason: err.to_string(),
        })?;
    let axis = |name: &str, default: Option<&str>| -> Result<String, StudyError> {
        match axes.iter().find(|(a, _)| a == name) {
            Some((_, v)) => Ok(v.clone()),
            None => default
                .map(str::to_owned)
                .ok_or_else(|| StudyError::MissingAxis {
                    axis: name.to_owned(),
                    what: if baseline { "baseline" } else { "scores" }.to_owned(),
                    axes: axes.iter().map(|(a, _)| a.clone()).collect(),
                }),
        }
    };
    let (generator_default, amount_default) = if baseline {
        (Some("none"), Some("0"))
    } else {
        (None, None)
    };
    let mut metrics = BTreeMap::new();
    for metric in METRICS {
        let number = value[metric].as_f64().ok_or_else(|| StudyError::Parse {
            path: shown.clone(),
            reason: format!("no number `{metric}`"),
        })?;
        metrics.insert(metric.to_owned(), number);
    }
    let class_f1 = value["per_class"]
        .as_object()
        .map(|classes| {
            classes
                .iter()
                .filter_map(|(class, m)| Some((class.clone(), m["f1"].as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Run {
        generator: if baseline {
            "none".to_owned()
        } else {
            axis(&names.generator, generator_default)?
        },
        classifier: axis(&names.classifier, Some("classifier"))?,
        amount: if baseline {
            "0".to_owned()
        } else {
            axis(&names.amount, amount_default)?
        },
        repeat: axis(&names.repeat, Some("1"))?,
        metrics,
        class_f1,
        correct: read_correct(dir)?,
    })
}

/// Per-image correctness from the `predictions.json` beside the scores, if any.
fn read_correct(dir: &Path) -> Result<Option<Vec<bool>>, StudyError> {
    #[derive(Deserialize)]
    struct Predictions {
        y_true: Vec<usize>,
        y_pred: Vec<usize>,
    }
    let path = dir.join(super::PREDICTIONS_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let parsed: Predictions = serde_json::from_str(&text).map_err(|err| StudyError::Parse {
        path: path.display().to_string(),
        reason: err.to_string(),
    })?;
    if parsed.y_true.len() != parsed.y_pred.len() {
        return Err(StudyError::Parse {
            path: path.display().to_string(),
            reason: format!(
                "{} labels but {} predictions",
                parsed.y_true.len(),
                parsed.y_pred.len()
            ),
        });
    }
    Ok(Some(
        parsed
            .y_true
            .iter()
            .zip(&parsed.y_pred)
            .map(|(t, p)| t == p)
            .collect(),
    ))
}

/// Mean and sample standard deviation.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

impl MeanStd {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Self {
            mean,
            std: var.sqrt(),
            n,
        }
    }
}

/// One (generator, classifier, amount) cell.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Cell {
    pub generator: String,
    pub classifier: String,
    pub amount: String,
    pub metrics: BTreeMap<String, MeanStd>,
    pub class_f1: BTreeMap<String, f64>,
    /// Against the same classifier's baseline; empty without a baseline.
    pub delta: BTreeMap<String, Delta>,
}

/// A generator's image quality beside its mean Δ.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct QualityPoint {
    pub generator: String,
    pub mean_class_fid: f64,
    pub kid: Option<f64>,
    /// Mean Δaccuracy over its classifiers and amounts.
    pub mean_delta_accuracy: f64,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct CorrelationRow {
    pub method: String,
    pub coefficient: f64,
    pub p: f64,
    pub n: usize,
}

/// Everything the report shows.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Study {
    pub baseline: BTreeMap<String, BTreeMap<String, MeanStd>>,
    pub baseline_class_f1: BTreeMap<String, BTreeMap<String, f64>>,
    pub cells: Vec<Cell>,
    /// How many comparisons each metric's Holm correction covered.
    pub comparisons: usize,
    pub quality: Vec<QualityPoint>,
    /// What the quality inputs' FIDs are (their `fid_name`): "domain fid", "fid"
    /// (Inception), or "mixed" when the inputs disagree (set by the caller).
    pub fid_name: String,
    /// FID vs Δaccuracy over generators, or why not.
    pub correlations: Vec<CorrelationRow>,
    pub correlation_note: Option<String>,
    /// Per generator (pooled over classifiers and amounts), per generator × amount, and
    /// per image for each generator's best cell: the report's answer.
    pub pooled: Pooled,
    /// Memorisation and class fidelity per generator (set by the caller from the
    /// quality inputs).
    pub quality_checks: Vec<QualityCheck>,
    pub notes: Vec<String>,
}

/// Groups runs into cells and compares each with its classifier's baseline.
pub fn analyse(
    runs: &[Run],
    baseline: &[Run],
    quality: &BTreeMap<String, (f64, Option<f64>)>,
    seed: u64,
) -> Study {
    let mut notes = Vec::new();
    let mut base_groups: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for run in baseline {
        base_groups.entry(&run.classifier).or_default().push(run);
    }
    let mut cell_groups: BTreeMap<(&str, &str, &str), Vec<&Run>> = BTreeMap::new();
    for run in runs {
        cell_groups
            .entry((&run.generator, &run.classifier, &run.amount))
            .or_default()
            .push(run);
    }
    let summarise = |group: &[&Run]| -> BTreeMap<String, MeanStd> {
        METRICS
            .iter()
            .map(|m| {
                let values: Vec<f64> = group.iter().map(|r| r.metrics[*m]).collect();
                ((*m).to_owned(), MeanStd::of(&values))
            })
            .collect()
    };
    let class_means = |group: &[&Run]| -> BTreeMap<String, f64> {
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for run in group {
            for (class, f1) in &run.class_f1 {
                let entry = sums.entry(class.clone()).or_default();
                entry.0 += f1;
                entry.1 += 1;
            }
        }
        sums.into_iter()
            .map(|(c, (s, n))| (c, s / n as f64))
            .collect()
    };
    let mut cells: Vec<Cell> = cell_groups
        .iter()
        .map(|(&(generator, classifier, amount), group)| {
            let mut delta = BTreeMap::new();
            if let Some(base) = base_groups.get(classifier) {
                for (i, metric) in METRICS.iter().enumerate() {
                    if let Some(d) = paired_delta(group, base, metric, seed + i as u64) {
                        delta.insert((*metric).to_owned(), d);
                    }
                }
            }
            Cell {
                generator: generator.to_owned(),
                classifier: classifier.to_owned(),
                amount: amount.to_owned(),
                metrics: summarise(group),
                class_f1: class_means(group),
                delta,
            }
        })
        .collect();
    // Holm over all cells, per metric.
    let mut comparisons = 0;
    for metric in METRICS {
        let indexed: Vec<(usize, f64)> = cells
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i, c.delta.get(metric)?.p?)))
            .collect();
        comparisons = comparisons.max(indexed.len());
        let ps: Vec<f64> = indexed.iter().map(|(_, p)| *p).collect();
        if let Ok(adjusted) = holm_adjust(&ps) {
            for ((i, _), adj) in indexed.iter().zip(adjusted) {
                if let Some(d) = cells[*i].delta.get_mut(metric) {
                    d.p_holm = Some(adj);
                }
            }
        }
    }
    let repeats = runs
        .iter()
        .map(|r| &r.repeat)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if repeats < 6 {
        notes.push(format!(
            "{repeats} repeat(s) per cell: a single cell's exact two-sided paired test cannot \
             go below p = {:.4} (1/2^{}), so the per-cell table is exploratory; the \
             per-generator tests pool every classifier and amount and can.",
            2.0f64.powi(1 - repeats as i32).min(1.0),
            repeats.saturating_sub(1)
        ));
    }
    if baseline.is_empty() {
        notes.push("no baseline connected: Δ columns are empty".to_owned());
    }
    let quality_points: Vec<QualityPoint> = quality
        .iter()
        .filter_map(|(generator, &(fid, kid))| {
            let deltas: Vec<f64> = cells
                .iter()
                .filter(|c| &c.generator == generator)
                .filter_map(|c| c.delta.get("accuracy").map(|d| d.mean))
                .collect();
            (!deltas.is_empty()).then(|| QualityPoint {
                generator: generator.clone(),
                mean_class_fid: fid,
                kid,
                mean_delta_accuracy: deltas.iter().sum::<f64>() / deltas.len() as f64,
            })
        })
        .collect();
    let fids: Vec<f64> = quality_points.iter().map(|q| q.mean_class_fid).collect();
    let deltas: Vec<f64> = quality_points
        .iter()
        .map(|q| q.mean_delta_accuracy)
        .collect();
    let mut correlations = Vec::new();
    let mut correlation_note = None;
    for (method, result) in [
        ("pearson", pearson(&fids, &deltas)),
        ("spearman", spearman(&fids, &deltas)),
    ] {
        match result {
            Ok(c) => correlations.push(CorrelationRow {
                method: method.to_owned(),
                coefficient: c.coefficient,
                p: c.p_value,
                n: c.n,
            }),
            Err(err) => correlation_note = Some(format!("no correlation: failed to {err}")),
        }
    }
    cells.sort_by(|a, b| {
        (&a.generator, &a.classifier, amount_key(&a.amount)).cmp(&(
            &b.generator,
            &b.classifier,
            amount_key(&b.amount),
        ))
    });
    Study {
        baseline: base_groups
            .iter()
            .map(|(c, g)| ((*c).to_owned(), summarise(g)))
            .collect(),
        baseline_class_f1: base_groups
            .iter()
            .map(|(c, g)| ((*c).to_owned(), class_means(g)))
            .collect(),
        cells,
        comparisons,
        quality: quality_points,
        fid_name: "domain fid".to_owned(),
        correlations,
        correlation_note,
        pooled: pooled(runs, baseline, seed),
        quality_checks: Vec::new(),
        notes,
    }
}

fn paired_delta(group: &[&Run], base: &[&Run], metric: &str, seed: u64) -> Option<Delta> {
    let mut condition = Vec::new();
    let mut baseline = Vec::new();
    for run in group {
        if let Some(b) = base.iter().find(|b| b.repeat == run.repeat) {
            condition.push(run.metrics[metric]);
            baseline.push(b.metrics[metric]);
        }
    }
    let diffs = paired_differences(&condition, &baseline).ok()?;
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    let ci = paired_mean_difference_ci(&condition, &baseline, &BootstrapConfig::seeded(seed)).ok();
    let test = sign_flip_test(&diffs, &PermutationConfig::seeded(seed)).ok();
    Some(Delta {
        mean,
        ci_low: ci.map(|c| c.lower),
        ci_high: ci.map(|c| c.upper),
        p: test.map(|t| t.p_value),
        p_holm: None,
        pairs: diffs.len(),
        clusters: None,
    })
}
