//! `augflow report`: brings the pipeline's `report.study` nodes up to date through the
//! runner (as `run --target` would), then writes `report/` beside the pipeline: the report with the run's
//! provenance added (pipeline digest, every node's key, device, durations), and its tables.
//! Provenance lives outside the content-addressed artifact because durations differ on
//! every machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::error::CliError;
use super::render;
use super::session::{JobsArgs, RemoteArgs, Session, run_nodes};
use crate::graph::PipelineGraph;
use crate::project::Project;
use crate::runner::{CancelToken, RunOptions, read_record};
use crate::spec::Action;
use augflow_stages::report::PROVENANCE_MARKER;
use augflow_stages::report::markup::escape;

/// The folder, beside the pipeline, that `augflow report` writes.
pub const REPORT_DIR: &str = "report";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Compute backend of ML stages.
    #[arg(long, value_enum, env = "AUGFLOW_BACKEND", default_value_t = crate::kinds::BackendRequest::Auto)]
    pub backend: crate::kinds::BackendRequest,
    /// One JSON object per run event on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: &ReportArgs, store_flag: Option<&Path>) -> Result<(), CliError> {
    let session = Session::open(args.pipeline.as_deref(), store_flag)?;
    let reports: Vec<String> = session
        .graph
        .order
        .iter()
        .map(|&i| session.graph.node(i))
        .filter(|n| matches!(&n.action, Action::Typed(t) if t.kind == "report.study"))
        .map(|n| n.name.clone())
        .collect();
    if reports.is_empty() {
        return Err(CliError::invalid(format!(
            "report: {} has no `report.study` stage",
            session.graph.pipeline.file.display()
        )));
    }
    let mut engine = session.engine(CancelToken::new());
    engine.backend = args.backend;
    let remote_warning = session.attach_remote(&mut engine, &args.remote)?;
    let options = RunOptions {
        targets: session.targets(&reports)?,
        jobs: args.jobs.jobs.get(),
        keep_going: false,
        executor: session.project.executor.default,
    };
    run_nodes(
        &engine,
        &options,
        remote_warning,
        &mut render::for_run(args.json),
    )?;
    let provenance = provenance(&session.graph, &session.project, &session.store);
    let root = session.graph.pipeline.root.join(REPORT_DIR);
    for name in &reports {
        let Some(index) = session.graph.find(name) else {
            continue;
        };
        let node = session.graph.node(index);
        let Some(source) = engine.output_paths(node).get("report").cloned() else {
            continue;
        };
        let target = if reports.len() == 1 {
            root.clone()
        } else {
            root.join(name)
        };
        publish(&source, &target, &provenance).map_err(|err| {
            CliError::environment(format!("write the report to {}: {err}", target.display()))
        })?;
        if !args.json {
            println!("{}", target.join("index.html").display());
        }
    }
    Ok(())
}

fn publish(source: &Path, target: &Path, provenance: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(target)?;
    let html = std::fs::read_to_string(source.join("report.html"))?;
    crate::fsutil::write_atomic(
        &target.join("index.html"),
        html.replace(PROVENANCE_MARKER, provenance).as_bytes(),
    )?;
    for file in ["tables.csv", "tables.md", "metrics.json"] {
        let bytes = std::fs::read(source.join(file))?;
        crate::fsutil::write_atomic(&target.join(file), &bytes)?;
    }
    Ok(())
}

/// An HTML section: the pipeline file's digest, and per node its key, device and duration.
fn provenance(graph: &PipelineGraph, project: &Project, store: &augflow_cache::Store) -> String {
    let digest = std::fs::read(&graph.pipeline.file)
        .map(|bytes| blake3::hash(&bytes).to_hex().to_string())
        .unwrap_or_else(|_| "unreadable".to_owned());
    let mut out = format!(
        "<h2>Provenance</h2><p>pipeline {} (blake3 {digest}), augflow {}</p><table><tr><th>node</th><th>kind</th><th>key</th><th>device</th><th>seconds</th><th>produced by</th></tr>",
        escape(&graph.pipeline.file.display().to_string()),
        env!("CARGO_PKG_VERSION")
    );
    for &index in &graph.order {
        let node = graph.node(index);
        let record = read_record(project, &node.name);
        let entry = record
            .as_ref()
            .and_then(|r| store.get_action(&r.key).ok().flatten());
        let device = entry
            .as_ref()
            .and_then(|e| e.metadata.get("device"))
            .and_then(|d| d.as_str())
            .unwrap_or("");
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&node.name),
            escape(node.kind_label()),
            record
                .as_ref()
                .map_or_else(|| "not run".to_owned(), |r| r.key.to_hex()),
            escape(device),
            entry.as_ref().map_or_else(String::new, |e| format!(
                "{:.1}",
                e.duration_ms as f64 / 1000.0
            )),
            entry.as_ref().map_or_else(String::new, |e| escape(&format!(
                "{}@{}",
                e.producer.user, e.producer.host
            ))),
        );
    }
    out.push_str("</table>");
    out
}
