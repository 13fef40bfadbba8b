//! `augflow metrics --by axis,…`: rows grouped by stage and the named axes, each numeric
//! metric summarised as mean ± sample standard deviation over the other axes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::metrics::{MetricsRow, RowState};
use crate::spec::Value;

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("group by axis `{axis}`: no selected node has it (axes: {known})")]
    UnknownAxis { axis: String, known: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub stage: String,
    /// The grouping axes' values (null for a node without that axis), in `--by` order.
    pub axes: Vec<(String, Value)>,
    /// Rows with recorded metrics.
    pub n: usize,
    /// Of those, rows whose metrics are from a stale run.
    pub stale: usize,
    pub metrics: BTreeMap<String, Summary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub mean: f64,
    /// Sample standard deviation (n − 1); none for a single value.
    pub std: Option<f64>,
    pub n: usize,
}

/// Groups in order of first appearance.
pub fn group_rows(rows: &[MetricsRow], by: &[String]) -> Result<Vec<Group>, GroupError> {
    for axis in by {
        if !rows.iter().any(|row| row.axes.contains_key(axis)) {
            let mut known: Vec<&str> = rows
                .iter()
                .flat_map(|row| row.axes.keys().map(String::as_str))
                .collect();
            known.sort_unstable();
            known.dedup();
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(GroupError::UnknownAxis {
                axis: axis.clone(),
                known,
            });
        }
    }
    let mut groups: Vec<(Group, BTreeMap<String, Vec<f64>>)> = Vec::new();
    for row in rows {
        let axes: Vec<(String, Value)> = by
            .iter()
            .map(|axis| {
                let value = row.axes.get(axis).cloned().unwrap_or(Value::Null);
                (axis.clone(), value)
            })
            .collect();
        let position = groups
            .iter()
            .position(|(g, _)| g.stage == row.stage && g.axes == axes);
        let index = position.unwrap_or_else(|| {
            groups.push((
                Group {
                    stage: row.stage.clone(),
                    axes,
                    n: 0,
                    stale: 0,
                    metrics: BTreeMap::new(),
                },
                BTreeMap::new(),
            ));
            groups.len() - 1
        });
        let (group, values) = &mut groups[index];
        if row.state == RowState::NeverRun {
            continue;
        }
        group.n += 1;
        group.stale += usize::from(row.state == RowState::Stale);
        for (name, value) in &row.metrics {
            if let Some(number) = value.as_f64().filter(|_| value.is_number()) {
                values.entry(name.clone()).or_default().push(number);
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|(mut group, values)| {
            group.metrics = values
                .into_iter()
                .map(|(name, values)| (name, summarise(&values)))
                .collect();
            group
        })
        .collect())
}

fn summarise(values: &[f64]) -> Summary {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let std = (n > 1).then(|| {
        let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        (squares / (n - 1) as f64).sqrt()
    });
    Summary { mean, std, n }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(node: &str, generator: &str, rep: i64, acc: f64, state: RowState) -> MetricsRow {
        MetricsRow {
            node: node.into(),
            stage: "train".into(),
            state,
            key: None,
            axes: [
                ("gen".to_owned(), json!(generator)),
                ("rep".to_owned(), json!(rep)),
            ]
            .into_iter()
            .collect(),
            params: BTreeMap::new(),
            metrics: [
                ("acc".to_owned(), json!(acc)),
                ("device".to_owned(), json!("cpu")),
            ]
            .into_iter()
            .collect(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn groups_summarise_the_other_axes() {
        let rows = [
            row("train@a-1", "a", 1, 0.5, RowState::UpToDate),
            row("train@b-1", "b", 1, 0.9, RowState::UpToDate),
            row("train@a-2", "a", 2, 0.7, RowState::Stale),
            row("train@b-2", "b", 2, 0.0, RowState::NeverRun),
        ];
        let groups = group_rows(&rows, &["gen".to_owned()]).unwrap();
        assert_eq!(groups.len(), 2);
        let a = &groups[0];
        assert_eq!(a.axes, [("gen".to_owned(), json!("a"))]);
        assert_eq!((a.n, a.stale), (2, 1));
        let acc = a.metrics["acc"];
        assert!((acc.mean - 0.6).abs() < 1e-12);
        // Sample std of {0.5, 0.7}: sqrt(0.02 / 1).
        assert!((acc.std.unwrap() - 0.02f64.sqrt()).abs() < 1e-12);
        assert!(!a.metrics.contains_key("device"));
        let b = &groups[1];
        assert_eq!(
            (b.n, b.metrics["acc"].n, b.metrics["acc"].std),
            (1, 1, None)
        );
        let err = group_rows(&rows, &["amount".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("axes: gen, rep"), "{err}");
    }
}
