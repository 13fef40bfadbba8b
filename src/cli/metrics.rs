//! `augflow metrics`: one row per node with recorded metrics, read from the store.

use std::path::{Path, PathBuf};

use clap::Args;

use super::load::{Loaded, load, open_store};
use super::metrics_view::{Format, View, diff_json, diff_table, groups_table, rows_table};
use super::{exit, report_error};
use crate::runner::{
    CancelToken, Engine, MetricsRow, checkout_at, collect_rows, group_rows, metrics_nodes, plan,
    plan_at_rev,
};

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    /// Only the nodes of this stage.
    #[arg(long)]
    pub stage: Option<String>,
    /// Group by these matrix axes: mean ± std and n of each metric over the other axes.
    #[arg(long, value_delimiter = ',', value_name = "AXIS")]
    pub by: Vec<String>,
    /// Sort rows by this column (a header of the table), ascending; empty cells last.
    #[arg(long, value_name = "COLUMN")]
    pub sort: Option<String>,
    /// Sort descending.
    #[arg(long, requires = "sort")]
    pub desc: bool,
    /// The table for the pipeline as it was at this git revision (its keys, this store).
    #[arg(long, value_name = "REV", conflicts_with = "diff")]
    pub rev: Option<String>,
    /// Today's table with a difference column per metric against this git revision.
    #[arg(long, value_name = "REV", conflicts_with = "by")]
    pub diff: Option<String>,
    /// Decimals of non-integer numbers in the table and Markdown (CSV and JSON keep all).
    #[arg(long, default_value_t = 4)]
    pub precision: usize,
    /// A Markdown table.
    #[arg(long, conflicts_with_all = ["csv", "json"])]
    pub md: bool,
    /// CSV with a header line.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// A JSON array of rows (or groups).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &MetricsArgs, store_flag: Option<&Path>) -> u8 {
    let loaded = match load(args.pipeline.as_deref(), store_flag) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if let Some(stage) = &args.stage
        && !loaded
            .graph
            .pipeline
            .nodes
            .iter()
            .any(|n| &n.stage == stage)
    {
        eprintln!("error: failed to select stage `{stage}`: the pipeline has no such stage");
        return exit::INVALID;
    }
    let view = View {
        format: Format::from_flags(args.md, args.csv, args.json),
        precision: args.precision,
    };
    let stage = args.stage.as_deref();
    let rows = match &args.rev {
        Some(rev) => rows_at(&loaded, rev, stage),
        None => rows_now(&loaded, stage),
    };
    let base = args
        .diff
        .as_deref()
        .map(|rev| (rev, rows_at(&loaded, rev, stage)));
    let (rows, base) = match (rows, base) {
        (Ok(rows), None) => (rows, None),
        (Ok(rows), Some((rev, Ok(base)))) => (rows, Some((rev, base))),
        (Err(code), _) | (_, Some((_, Err(code)))) => return code,
    };
    warn_problems(&rows);
    if view.format == Format::Json && args.by.is_empty() {
        let value = match &base {
            Some((rev, base)) => diff_json(&rows, base, rev),
            None => serde_json::to_value(&rows).unwrap_or_default(),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return exit::OK;
    }
    let mut table = if !args.by.is_empty() {
        let groups = match group_rows(&rows, &args.by) {
            Ok(groups) => groups,
            Err(err) => {
                report_error(&err);
                return exit::INVALID;
            }
        };
        if view.format == Format::Json {
            println!(
                "{}",
                serde_json::to_string_pretty(&groups).unwrap_or_default()
            );
            return exit::OK;
        }
        groups_table(&groups, &args.by, &view)
    } else if let Some((rev, base)) = &base {
        diff_table(&rows, base, rev, &view)
    } else {
        rows_table(&rows, &view)
    };
    if let Some(column) = &args.sort
        && let Err(err) = table.sort_by(column, args.desc)
    {
        report_error(&err);
        return exit::INVALID;
    }
    print!("{}", view.render(&table));
    exit::OK
}

/// Rows of the working tree: stale nodes show their last run, marked.
fn rows_now(loaded: &Loaded, stage: Option<&str>) -> Result<Vec<MetricsRow>, u8> {
    let store = open_store(&loaded.project)?;
    let engine = Engine::new(
        &loaded.graph,
        &loaded.project,
        &store,
        &loaded.registry,
        CancelToken::new(),
    );
    let nodes = metrics_nodes(&engine, stage);
    let plans = plan(&engine, &loaded.graph.with_ancestors(&nodes));
    Ok(collect_rows(&engine, &plans, &nodes, true))
}

/// Rows of the pipeline at `rev`: its files from git, its keys, this project's store.
fn rows_at(loaded: &Loaded, rev: &str, stage: Option<&str>) -> Result<Vec<MetricsRow>, u8> {
    let checkout = checkout_at(&loaded.graph.pipeline.file, rev, &loaded.project.tmp_dir())
        .map_err(|err| {
            report_error(&err);
            exit::INVALID
        })?;
    let at_rev = load(Some(&checkout.pipeline), Some(&loaded.project.store_dir))?;
    let store = open_store(&at_rev.project)?;
    let engine = Engine::new(
        &at_rev.graph,
        &at_rev.project,
        &store,
        &at_rev.registry,
        CancelToken::new(),
    );
    let nodes = metrics_nodes(&engine, stage);
    let plans = plan_at_rev(&engine, &at_rev.graph.with_ancestors(&nodes));
    Ok(collect_rows(&engine, &plans, &nodes, false))
}

fn warn_problems(rows: &[MetricsRow]) {
    for row in rows {
        for problem in &row.problems {
            eprintln!("warning: {}: {problem}", row.node);
        }
    }
}
