//! Tables of `augflow metrics`: rows, groups (`--by`) and a diff against a revision.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use super::table::{Cell, SortKey, Table};
use crate::runner::{Group, MetricsRow, RowState};
use crate::spec::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Aligned,
    Markdown,
    Csv,
    Json,
}

impl Format {
    pub fn from_flags(md: bool, csv: bool, json: bool) -> Format {
        match (md, csv, json) {
            (true, _, _) => Format::Markdown,
            (_, true, _) => Format::Csv,
            (_, _, true) => Format::Json,
            _ => Format::Aligned,
        }
    }
}

pub struct View {
    pub format: Format,
    pub precision: usize,
}

impl View {
    pub fn render(&self, table: &Table) -> String {
        match self.format {
            Format::Markdown => table.to_markdown(),
            Format::Csv => table.to_csv(),
            Format::Aligned | Format::Json => table.to_aligned(),
        }
    }
}

/// Names in order of first appearance.
fn union<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut seen = Vec::<String>::new();
    for name in names {
        if !seen.contains(name) {
            seen.push(name.clone());
        }
    }
    seen
}

/// Params whose value differs between rows (constant ones say nothing about a row), and
/// that are not also a matrix axis.
fn varying_params(rows: &[MetricsRow], axes: &[String]) -> Vec<String> {
    let mut names = union(rows.iter().flat_map(|row| row.params.keys()));
    names.sort();
    names.retain(|name| {
        !axes.contains(name)
            && rows
                .iter()
                .any(|row| row.params.get(name) != rows[0].params.get(name))
    });
    names
}

/// node | axes… | varying params… | metrics… | state
pub fn rows_table(rows: &[MetricsRow], view: &View) -> Table {
    let axes = union(rows.iter().flat_map(|row| row.axes.keys()));
    let params = varying_params(rows, &axes);
    let metrics = union(rows.iter().flat_map(|row| row.metrics.keys()));
    let mut table = Table {
        headers: header(&axes, &params, &metrics),
        rows: Vec::new(),
    };
    table.headers.push("state".into());
    for row in rows {
        let mut cells = leading_cells(row, &axes, &params);
        for metric in &metrics {
            cells.push(Cell::value(row.metrics.get(metric), view.precision));
        }
        cells.push(Cell::text(row.state.label()));
        table.rows.push(cells);
    }
    table
}

fn header(axes: &[String], params: &[String], metrics: &[String]) -> Vec<String> {
    let mut headers = vec!["node".to_owned()];
    headers.extend(axes.iter().chain(params).chain(metrics).cloned());
    headers
}

fn leading_cells(row: &MetricsRow, axes: &[String], params: &[String]) -> Vec<Cell> {
    let mut cells = vec![Cell::text(&row.node)];
    cells.extend(axes.iter().map(|a| Cell::exact(row.axes.get(a))));
    cells.extend(params.iter().map(|p| Cell::exact(row.params.get(p))));
    cells
}

/// stage | axes… | n | stale | metric (mean ± std)…; CSV splits each metric into
/// `<metric>.mean`, `<metric>.std` and `<metric>.n`.
pub fn groups_table(groups: &[Group], by: &[String], view: &View) -> Table {
    let metrics = union(groups.iter().flat_map(|g| g.metrics.keys()));
    let split = view.format == Format::Csv;
    let mut headers = vec!["stage".to_owned()];
    headers.extend(by.iter().cloned());
    headers.extend(["n".to_owned(), "stale".to_owned()]);
    for metric in &metrics {
        if split {
            headers.extend(["mean", "std", "n"].map(|s| format!("{metric}.{s}")));
        } else {
            headers.push(metric.clone());
        }
    }
    let mut table = Table {
        headers,
        rows: Vec::new(),
    };
    let p = view.precision;
    for group in groups {
        let mut cells = vec![Cell::text(&group.stage)];
        cells.extend(group.axes.iter().map(|(_, v)| Cell::exact(Some(v))));
        cells.push(Cell::value(Some(&json!(group.n)), p));
        cells.push(Cell::value(Some(&json!(group.stale)), p));
        for metric in &metrics {
            let Some(s) = group.metrics.get(metric) else {
                let empty = if split { 3 } else { 1 };
                cells.extend(std::iter::repeat_n(Cell::empty(), empty));
                continue;
            };
            if split {
                cells.push(Cell::number(s.mean, s.mean.to_string(), p));
                cells.push(match s.std {
                    Some(std) => Cell::number(std, std.to_string(), p),
                    None => Cell::empty(),
                });
                cells.push(Cell::value(Some(&json!(s.n)), p));
                continue;
            }
            let mut text = format!("{:.p$}", s.mean);
            if let Some(std) = s.std {
                text.push_str(&format!(" ± {std:.p$}"));
            }
            if s.n != group.n {
                text.push_str(&format!(" (n={})", s.n));
            }
            cells.push(Cell {
                csv: text.clone(),
                text,
                sort: SortKey::Number(s.mean),
            });
        }
        table.rows.push(cells);
    }
    table
}

/// How a node stood at the base revision.
fn base_label(row: &MetricsRow, base: Option<&MetricsRow>) -> &'static str {
    match base {
        None => "not in pipeline",
        Some(base) if base.state == RowState::NeverRun => "not computed",
        Some(base) if base.key == row.key => "same key",
        Some(_) => "computed",
    }
}

fn numeric(value: Option<&Value>) -> Option<f64> {
    value.filter(|v| v.is_number()).and_then(Value::as_f64)
}

/// node | axes… | params… | metric, Δ metric… | state | <rev>: today's rows against the
/// rows at `rev`; nodes only at `rev` come last, as `removed`.
pub fn diff_table(rows: &[MetricsRow], base: &[MetricsRow], rev: &str, view: &View) -> Table {
    let by_name: HashMap<&str, &MetricsRow> = base.iter().map(|r| (r.node.as_str(), r)).collect();
    let axes = union(rows.iter().chain(base).flat_map(|row| row.axes.keys()));
    let params = varying_params(rows, &axes);
    let metrics = union(rows.iter().chain(base).flat_map(|row| row.metrics.keys()));
    // A difference column only for metrics that are numbers somewhere.
    let deltas: Vec<bool> = metrics
        .iter()
        .map(|m| {
            rows.iter()
                .chain(base)
                .any(|r| numeric(r.metrics.get(m)).is_some())
        })
        .collect();
    let mut headers = vec!["node".to_owned()];
    headers.extend(axes.iter().chain(&params).cloned());
    for (metric, delta) in metrics.iter().zip(&deltas) {
        headers.push(metric.clone());
        if *delta {
            headers.push(format!("Δ {metric}"));
        }
    }
    headers.extend(["state".to_owned(), rev.to_owned()]);
    let mut table = Table {
        headers,
        rows: Vec::new(),
    };
    let p = view.precision;
    for row in rows {
        let old = by_name.get(row.node.as_str()).copied();
        let mut cells = leading_cells(row, &axes, &params);
        for (metric, delta) in metrics.iter().zip(&deltas) {
            cells.push(Cell::value(row.metrics.get(metric), p));
            if !*delta {
                continue;
            }
            let now = numeric(row.metrics.get(metric));
            let then = old.and_then(|o| numeric(o.metrics.get(metric)));
            cells.push(match (now, then) {
                (Some(now), Some(then)) => {
                    let delta = now - then;
                    Cell {
                        text: format!("{delta:+.p$}"),
                        csv: delta.to_string(),
                        sort: SortKey::Number(delta),
                    }
                }
                _ => Cell::empty(),
            });
        }
        cells.push(Cell::text(row.state.label()));
        cells.push(Cell::text(base_label(row, old)));
        table.rows.push(cells);
    }
    let current: Vec<&str> = rows.iter().map(|r| r.node.as_str()).collect();
    for old in base.iter().filter(|b| !current.contains(&b.node.as_str())) {
        let mut cells = vec![Cell::text(&old.node)];
        cells.extend(axes.iter().map(|a| Cell::exact(old.axes.get(a))));
        let blanks = params.len() + metrics.len() + deltas.iter().filter(|d| **d).count();
        cells.extend(std::iter::repeat_n(Cell::empty(), blanks));
        cells.push(Cell::text("removed"));
        cells.push(Cell::text(old.state.label()));
        table.rows.push(cells);
    }
    table
}

/// `{"rev": …, "rows": [row + {"base": row at rev or null, "diff": {metric: now − then}}],
/// "removed": [rows only at rev]}`.
pub fn diff_json(rows: &[MetricsRow], base: &[MetricsRow], rev: &str) -> Value {
    let by_name: HashMap<&str, &MetricsRow> = base.iter().map(|r| (r.node.as_str(), r)).collect();
    let mut out = Vec::new();
    for row in rows {
        let old = by_name.get(row.node.as_str()).copied();
        let diff: BTreeMap<&String, f64> = row
            .metrics
            .iter()
            .filter_map(|(name, value)| {
                let then = numeric(old?.metrics.get(name))?;
                Some((name, numeric(Some(value))? - then))
            })
            .collect();
        let mut value = serde_json::to_value(row).unwrap_or_default();
        value["base"] = serde_json::to_value(old).unwrap_or_default();
        value["diff"] = json!(diff);
        out.push(value);
    }
    let current: Vec<&str> = rows.iter().map(|r| r.node.as_str()).collect();
    let removed: Vec<&MetricsRow> = base
        .iter()
        .filter(|b| !current.contains(&b.node.as_str()))
        .collect();
    json!({"rev": rev, "rows": out, "removed": removed})
}
