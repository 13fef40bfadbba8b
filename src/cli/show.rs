//! `augflow show NODE`: where the outputs are and what the node recorded.

use std::path::{Path, PathBuf};

use super::error::CliError;
use super::render::print_json;
use super::session::NodeArgs;
use crate::kinds::ArtifactType;
use crate::runner::{CancelToken, Engine, StoreIndex, UsedBy, read_record};
use crate::spec::Action;

pub fn run(args: &NodeArgs, store_flag: Option<&Path>) -> Result<(), CliError> {
    let (session, index) = args.open(store_flag, "show")?;
    let engine = session.engine(CancelToken::new());
    let node = session.graph.node(index);
    let record = read_record(&session.project, &node.name);
    let entry = record
        .as_ref()
        .and_then(|r| session.store.get_action(&r.key).ok().flatten());
    let outputs = engine.output_paths(node);
    let metrics = metrics_files(&engine, node);
    let metrics_values: serde_json::Map<String, serde_json::Value> = metrics
        .iter()
        .filter_map(|(name, path)| {
            let bytes = std::fs::read(path).ok()?;
            Some((name.clone(), serde_json::from_slice(&bytes).ok()?))
        })
        .collect();
    let used_by = record
        .as_ref()
        .map(|r| direct_users(&engine, &r.key))
        .unwrap_or_default();

    if args.json {
        let value = serde_json::json!({
            "stage": node.name,
            "kind": node.kind_label(),
            "key": record.as_ref().map(|r| r.key.to_hex()),
            "outputs": outputs.iter().map(|(name, path)| (name.clone(), path.display().to_string())).collect::<std::collections::BTreeMap<_, _>>(),
            "metrics": metrics_values,
            "entry": entry,
            "used_by": used_by,
        });
        print_json(&value);
        return Ok(());
    }
    println!("{} [{}]", node.name, node.kind_label());
    match &record {
        Some(record) => println!("  key: {}", record.key),
        None => println!("  not run yet"),
    }
    if let Some(entry) = &entry {
        // Self-reported by whoever wrote the entry: shown, never trusted, never raw.
        println!(
            "  produced in {:.2} s by {}@{} (augflow {}; self-reported)",
            entry.duration_ms as f64 / 1000.0,
            escape_controls(&entry.producer.user),
            escape_controls(&entry.producer.host),
            escape_controls(&entry.producer.tool_version)
        );
        println!("  signed by: {}", signer_line(entry));
    }
    println!("  outputs:");
    for (name, path) in &outputs {
        let artifact = record.as_ref().and_then(|r| r.outputs.get(name));
        match artifact {
            Some(artifact) => println!(
                "    {name}: {} ({})",
                path.display(),
                artifact.digest().short()
            ),
            None => println!("    {name}: {}", path.display()),
        }
    }
    if record.is_some() {
        let names: Vec<String> = used_by
            .iter()
            .map(|u| user_label(u, &session.graph.pipeline.file))
            .collect();
        match names.is_empty() {
            true => println!("  used by: nothing in the store"),
            false => println!("  used by: {}", names.join(", ")),
        }
    }
    if !metrics_values.is_empty() {
        println!("  metrics:");
        for (name, value) in &metrics_values {
            let text = serde_json::to_string_pretty(value).unwrap_or_default();
            println!("    {name}:");
            for line in text.lines() {
                println!("      {line}");
            }
        }
    }
    Ok(())
}

/// The signer verified when the entry was pulled from a signed remote
/// (`augflow.signed_by`, written only by that check).
fn signer_line(entry: &augflow_cache::ActionEntry) -> String {
    let signer = entry.metadata.get(augflow_cache::remote::SIGNED_BY);
    let field = |name: &str| {
        signer
            .and_then(|s| s.get(name))
            .and_then(serde_json::Value::as_str)
            .map(escape_controls)
    };
    match (field("writer"), field("public_key")) {
        (Some(writer), Some(key)) => format!("{writer} (ed25519 {key}, verified on pull)"),
        _ => "nobody verified (computed here, or pulled from an unsigned remote)".to_owned(),
    }
}

/// Control characters (terminal escape sequences included) written as Rust escapes.
fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Metrics files of a node: shell `metrics:` paths, or `metrics.json` in typed metrics outputs.
fn metrics_files(engine: &Engine<'_>, node: &crate::spec::NodeSpec) -> Vec<(String, PathBuf)> {
    match &node.action {
        Action::Shell(shell) => shell
            .metrics
            .iter()
            .map(|m| (m.to_string(), m.to_path(&engine.project.root)))
            .collect(),
        Action::Typed(typed) => {
            let paths = engine.output_paths(node);
            engine
                .registry
                .get(&typed.kind)
                .map(|kind| {
                    kind.spec()
                        .outputs
                        .iter()
                        .filter(|port| port.ty == ArtifactType::Metrics)
                        .filter_map(|port| {
                            paths
                                .get(port.name)
                                .map(|dir| (port.name.to_owned(), dir.join("metrics.json")))
                        })
                        .collect()
                })
                .unwrap_or_default()
        }
    }
}

/// Entries whose key includes one of this key's outputs, in any pipeline sharing the store.
fn direct_users(engine: &Engine<'_>, key: &augflow_cache::Digest) -> Vec<UsedBy> {
    match StoreIndex::build(engine.store, engine) {
        Ok(index) => index
            .used_by(key)
            .into_iter()
            .filter(|u| u.depth == 0)
            .collect(),
        Err(err) => {
            tracing::warn!("failed to read the store for `used by`: {err}");
            Vec::new()
        }
    }
}

/// `node`, with its pipeline file when that is another one than `current`.
fn user_label(user: &UsedBy, current: &std::path::Path) -> String {
    let name = user.node.clone().unwrap_or_else(|| user.key.short());
    match &user.pipeline {
        Some(pipeline) if std::path::Path::new(pipeline) != current => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let shown = std::path::Path::new(pipeline)
                .strip_prefix(&cwd)
                .map_or_else(|_| pipeline.clone(), |p| p.display().to_string());
            format!("{name} ({shown})")
        }
        _ => name,
    }
}
