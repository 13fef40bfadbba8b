//! `augflow report`: brings the pipeline's `report.study` nodes up to date (like `run
//! --target`), then writes `report/` beside the pipeline: the report with the run's
//! provenance added (pipeline digest, every node's key, device, durations), and its tables.
//! Provenance lives outside the content-addressed artifact because durations differ on
//! every machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::exit;
use super::load::{load, open_store};
use super::run::{RunArgs, run as run_command};
use crate::graph::PipelineGraph;
use crate::project::Project;
use crate::report::PROVENANCE_MARKER;
use crate::report::render::escape;
use crate::runner::{CancelToken, Engine, read_record};
use crate::spec::Action;

/// The folder, beside the pipeline, that `augflow report` writes.
pub const REPORT_DIR: &str = "report";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    /// Nodes to run at once while bringing the report up to date.
    #[arg(short = 'j', long = "jobs", default_value_t = 1)]
    pub jobs: usize,
    /// Compute backend of ML stages.
    #[arg(long, value_enum, env = "AUGFLOW_BACKEND", default_value_t = crate::kinds::BackendRequest::Auto)]
    pub backend: crate::kinds::BackendRequest,
    /// One JSON object per run event on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,
}

pub fn run(args: &ReportArgs, store_flag: Option<&Path>) -> u8 {
    let loaded = match load(args.pipeline.as_deref(), store_flag) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let reports: Vec<String> = loaded
        .graph
        .order
        .iter()
        .map(|&i| loaded.graph.node(i))
        .filter(|n| matches!(&n.action, Action::Typed(t) if t.kind == "report.study"))
        .map(|n| n.name.clone())
        .collect();
    if reports.is_empty() {
        eprintln!(
            "error: failed to report: {} has no `report.study` stage",
            loaded.graph.pipeline.file.display()
        );
        return exit::INVALID;
    }
    let run_args = RunArgs {
        pipeline: args.pipeline.clone(),
        targets: reports.clone(),
        jobs: args.jobs,
        dry_run: false,
        keep_going: false,
        json: args.json,
        remote: args.remote.clone(),
        backend: args.backend,
        executor: None,
        watch: false,
        gpus: None,
        gpu_share: 1,
        retries: 0,
    };
    let code = run_command(&run_args, store_flag);
    if code != exit::OK {
        return code;
    }
    let store = match open_store(&loaded.project) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let engine = Engine::new(
        &loaded.graph,
        &loaded.project,
        &store,
        &loaded.registry,
        CancelToken::new(),
    );
    let provenance = provenance(&loaded.graph, &loaded.project, &store);
    let root = loaded.graph.pipeline.root.join(REPORT_DIR);
    for name in &reports {
        let Some(index) = loaded.graph.find(name) else {
            continue;
        };
        let node = loaded.graph.node(index);
        let Some(source) = engine.output_paths(node).get("report").cloned() else {
            continue;
        };
        let target = if reports.len() == 1 {
            root.clone()
        } else {
            root.join(name)
        };
        if let Err(err) = publish(&source, &target, &provenance) {
            eprintln!(
                "error: failed to write the report to {}: {err}",
                target.display()
            );
            return exit::ENVIRONMENT;
        }
        if !args.json {
            println!("{}", target.join("index.html").display());
        }
    }
    exit::OK
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
