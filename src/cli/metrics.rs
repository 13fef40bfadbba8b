//! `augflow metrics`: one row per node with recorded metrics, read from the store.

use std::path::{Path, PathBuf};

use clap::Args;

use super::error::CliError;
use super::metrics_view::{Format, View, diff_json, diff_table, groups_table, rows_table};
use super::render::print_json;
use super::session::Session;
use crate::runner::{
    CancelToken, MetricsRow, checkout_at, collect_rows, group_rows, metrics_nodes, plan,
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

pub fn run(args: &MetricsArgs, store_flag: Option<&Path>) -> Result<(), CliError> {
    let session = Session::open(args.pipeline.as_deref(), store_flag)?;
    if let Some(stage) = &args.stage
        && !session
            .graph
            .pipeline
            .nodes
            .iter()
            .any(|n| &n.stage == stage)
    {
        return Err(CliError::invalid(format!(
            "select stage `{stage}`: the pipeline has no such stage"
        )));
    }
    let view = View {
        format: Format::from_flags(args.md, args.csv, args.json),
        precision: args.precision,
    };
    let stage = args.stage.as_deref();
    let rows = match &args.rev {
        Some(rev) => rows_at(&session, rev, stage)?,
        None => rows_now(&session, stage),
    };
    let base = match args.diff.as_deref() {
        Some(rev) => Some((rev, rows_at(&session, rev, stage)?)),
        None => None,
    };
    warn_problems(&rows);
    if view.format == Format::Json && args.by.is_empty() {
        let value = match &base {
            Some((rev, base)) => diff_json(&rows, base, rev),
            None => serde_json::to_value(&rows).unwrap_or_default(),
        };
        print_json(&value);
        return Ok(());
    }
    let mut table = if !args.by.is_empty() {
        let groups = group_rows(&rows, &args.by).map_err(CliError::invalid)?;
        if view.format == Format::Json {
            print_json(&groups);
            return Ok(());
        }
        groups_table(&groups, &args.by, &view)
    } else if let Some((rev, base)) = &base {
        diff_table(&rows, base, rev, &view)
    } else {
        rows_table(&rows, &view)
    };
    if let Some(column) = &args.sort {
        table
            .sort_by(column, args.desc)
            .map_err(CliError::invalid)?;
    }
    print!("{}", view.render(&table));
    Ok(())
}

/// Rows of the working tree: stale nodes show their last run, marked.
fn rows_now(session: &Session, stage: Option<&str>) -> Vec<MetricsRow> {
    let engine = session.engine(CancelToken::new());
    let nodes = metrics_nodes(&engine, stage);
    let plans = plan(&engine, &session.graph.with_ancestors(&nodes));
    collect_rows(&engine, &plans, &nodes, true)
}

/// Rows of the pipeline at `rev`: its files from git, its keys, this project's store.
fn rows_at(session: &Session, rev: &str, stage: Option<&str>) -> Result<Vec<MetricsRow>, CliError> {
    let project = &session.project;
    let checkout = checkout_at(&session.graph.pipeline.file, rev, &project.tmp_dir())
        .map_err(CliError::invalid)?;
    let at_rev = Session::open(Some(&checkout.pipeline), Some(&project.store_dir))?;
    let engine = at_rev.engine(CancelToken::new());
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
