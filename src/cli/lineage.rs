//! `augflow lineage NODE|PATH`: what produced an artifact, or (`--used-by`) every entry of
//! the store whose key includes it, across the pipelines that share the store.

use std::path::{Path, PathBuf};

use augflow_cache::Digest;
use clap::Args;
use petgraph::graph::NodeIndex;
use serde_json::json;

use super::error::CliError;
use super::render::print_json;
use super::session::Session;
use crate::runner::{
    CancelToken, Engine, LineageNode, NodeState, StoreIndex, UsedBy, plan, read_record,
};

#[derive(Debug, Args)]
pub struct LineageArgs {
    /// A node (`stage` or `stage@values`), or a path inside one of its outputs.
    pub target: String,
    /// Pipeline file (default: augflow.yaml).
    #[arg(long, short = 'p')]
    pub pipeline: Option<PathBuf>,
    /// List every node whose key includes the target's outputs (then their users).
    #[arg(long)]
    pub used_by: bool,
    #[arg(long)]
    pub json: bool,
}

/// The entry a query starts from.
struct Start {
    key: Digest,
    /// The node's current key misses; this is its last run.
    stale: bool,
}

pub fn run(args: &LineageArgs, store_flag: Option<&Path>) -> Result<(), CliError> {
    let session = Session::open(args.pipeline.as_deref(), store_flag)?;
    let engine = session.engine(CancelToken::new());
    let index = StoreIndex::build(&session.store, &engine).map_err(CliError::environment)?;
    let start = find_start(&engine, &index, &args.target)?;
    let pipeline = session.graph.pipeline.file.display().to_string();
    if args.used_by {
        let users = index.used_by(&start.key);
        if args.json {
            print_json(&json!({"key": start.key.to_hex(), "stale": start.stale, "used_by": users}));
        } else {
            print_used_by(&users, &pipeline, &start);
        }
        return Ok(());
    }
    let Some(chain) = index.lineage(&start.key) else {
        return Err(CliError::environment(untraced(
            &args.target,
            "its entry left the store",
        )));
    };
    if args.json {
        print_json(&json!({"key": start.key.to_hex(), "stale": start.stale, "lineage": chain}));
    } else {
        if start.stale {
            println!("(the node is stale: this is its last run)");
        }
        let mut out = String::new();
        render_chain(&chain, 0, &pipeline, &mut out);
        print!("{out}");
    }
    Ok(())
}

fn untraced(target: &str, why: impl std::fmt::Display) -> String {
    format!("trace `{target}`: {why}")
}

/// A node name first, then a path inside a node's outputs, then any file whose content
/// some entry produced.
fn find_start(engine: &Engine<'_>, index: &StoreIndex, target: &str) -> Result<Start, CliError> {
    let graph = engine.graph;
    if let Some(node) = graph.find(target) {
        return start_of_node(engine, index, node, target);
    }
    let matrix = graph.resolve_target(target);
    if let Some(&first) = matrix.first() {
        let example = &graph.node(first).name;
        return Err(CliError::invalid(untraced(
            target,
            format!("`{target}` is a matrix stage; name one of its nodes, e.g. `{example}`"),
        )));
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let path = std::path::absolute(cwd.join(target)).unwrap_or_else(|_| cwd.join(target));
    for &node in &graph.order {
        let outputs = engine.output_paths(graph.node(node));
        if outputs.values().any(|out| path.starts_with(out)) {
            return start_of_node(engine, index, node, target);
        }
    }
    if path.is_file() || path.is_dir() {
        let digest = engine
            .digest_path(&path)
            .map_err(|err| {
                CliError::environment(untraced(target, format!("cannot hash it: {err}")))
            })?
            .digest();
        if let Some(found) = index.producers_of(&digest).first() {
            return Ok(Start {
                key: index.entries[found.entry].key,
                stale: false,
            });
        }
        return Err(CliError::failed(untraced(
            target,
            "no entry of the store produced this content",
        )));
    }
    Err(CliError::invalid(untraced(
        target,
        "no node has that name and no such path exists (see `augflow dag`)",
    )))
}

fn start_of_node(
    engine: &Engine<'_>,
    index: &StoreIndex,
    node: NodeIndex,
    target: &str,
) -> Result<Start, CliError> {
    let spec = engine.graph.node(node);
    let plans = plan(engine, &engine.graph.with_ancestors(&[node]));
    let current = plans
        .iter()
        .find(|p| p.stage == spec.name)
        .filter(|p| !matches!(p.state, NodeState::Stale { .. }))
        .and_then(|p| p.key_digest)
        .filter(|key| index.get(key).is_some());
    if let Some(key) = current {
        return Ok(Start { key, stale: false });
    }
    match read_record(engine.project, &spec.name) {
        Some(record) if index.get(&record.key).is_some() => Ok(Start {
            key: record.key,
            stale: true,
        }),
        _ => Err(CliError::failed(untraced(
            target,
            format!("`{}` has no result in the store (run it first)", spec.name),
        ))),
    }
}

/// The pipeline file, shown only when it is not the one given.
fn pipeline_note(pipeline: Option<&String>, current: &str) -> String {
    match pipeline {
        Some(p) if p != current => format!("  ({})", display_path(p)),
        _ => String::new(),
    }
}

/// Relative to the current folder when below it.
fn display_path(path: &str) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    Path::new(path)
        .strip_prefix(&cwd)
        .map_or_else(|_| path.to_owned(), |p| p.display().to_string())
}

fn render_chain(node: &LineageNode, depth: usize, current: &str, out: &mut String) {
    let pad = "  ".repeat(depth);
    let name = node.node.as_deref().unwrap_or("(unknown node)");
    let kind = node.kind.as_deref().unwrap_or("?");
    let key = &node.key[..12];
    let note = pipeline_note(node.pipeline.as_ref(), current);
    if node.repeated {
        out.push_str(&format!(
            "{pad}{name} [{kind}]  key {key}{note}  (shown above)\n"
        ));
        return;
    }
    out.push_str(&format!("{pad}{name} [{kind}]  key {key}{note}\n"));
    if !node.params.is_empty() {
        let params = serde_json::to_string(&node.params).unwrap_or_default();
        out.push_str(&format!("{pad}  params: {params}\n"));
    }
    if let Some(seed) = node.seed {
        out.push_str(&format!("{pad}  seed: {seed}\n"));
    }
    for input in &node.inputs {
        match &input.from {
            Some(from) => {
                let producer = from.producer.node.as_deref().unwrap_or("?");
                let inner = from
                    .inner
                    .as_ref()
                    .map(|i| format!("/{i}"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{pad}  {} <- {producer}.{}{inner}\n",
                    input.name, from.output
                ));
                render_chain(&from.producer, depth + 2, current, out);
            }
            None => out.push_str(&format!(
                "{pad}  {} <- source {}\n",
                input.name,
                &input.digest[..12]
            )),
        }
    }
}

fn print_used_by(users: &[UsedBy], current: &str, start: &Start) {
    if start.stale {
        println!("(the node is stale: this is its last run)");
    }
    if users.is_empty() {
        println!("used by nothing in the store");
        return;
    }
    println!("used by:");
    for user in users {
        let pad = "  ".repeat(user.depth + 1);
        let name = user.node.as_deref().unwrap_or("(unknown node)");
        let inner = user
            .inner
            .as_ref()
            .map(|i| format!("/{i}"))
            .unwrap_or_default();
        let note = pipeline_note(user.pipeline.as_ref(), current);
        println!(
            "{pad}{name}  key {}  reads {}{inner} as `{}`{note}",
            user.key.short(),
            user.output,
            user.input
        );
    }
}
