//! `augflow metrics`: each node's recorded metrics, read from the store. Nothing runs; a
//! stale node shows the metrics of its last run (from its node record), marked stale.

use std::collections::{BTreeMap, HashMap};

use augflow_cache::{ActionEntry, Artifact, Digest, Store};
use indexmap::IndexMap;
use petgraph::graph::NodeIndex;
use serde::Serialize;

use super::engine::Engine;
use super::plan::{NodePlan, NodeState};
use super::record::read_record;
use crate::kinds::ArtifactType;
use crate::spec::{Action, NodeSpec, Value};

/// A metrics file larger than this is not read (metrics are small JSON documents).
const MAX_METRICS_BYTES: u64 = 16 << 20;

/// The file a typed metrics output holds.
const TYPED_METRICS_FILE: &str = "metrics.json";

/// Whether a row's metrics belong to the node's current key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// The current key's entry is in the store.
    UpToDate,
    /// The current key misses; the metrics are those of the node's last run.
    Stale,
    /// No entry of this node is in the store.
    NeverRun,
}

impl RowState {
    pub fn label(self) -> &'static str {
        match self {
            RowState::UpToDate => "ok",
            RowState::Stale => "stale",
            RowState::NeverRun => "not run",
        }
    }
}

/// One node that declares metrics.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsRow {
    pub node: String,
    pub stage: String,
    pub state: RowState,
    /// The key whose entry the metrics come from.
    #[serde(serialize_with = "serialize_key")]
    pub key: Option<Digest>,
    /// Matrix axis values, in declared order.
    pub axes: IndexMap<String, Value>,
    /// Params of that key (the current spec's when never run), flattened with `.`.
    pub params: BTreeMap<String, Value>,
    /// Scalar metrics, flattened with `.`; prefixed `<output>:` when a node has several
    /// metrics outputs.
    pub metrics: BTreeMap<String, Value>,
    /// Why some metrics could not be read (the row is kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

fn serialize_key<S: serde::Serializer>(key: &Option<Digest>, s: S) -> Result<S::Ok, S::Error> {
    match key {
        Some(key) => s.serialize_str(&key.to_hex()),
        None => s.serialize_none(),
    }
}

/// Nodes that declare metrics (shell `metrics:` or a typed metrics output), optionally
/// only those of `stage`, in graph order.
pub fn metrics_nodes(engine: &Engine<'_>, stage: Option<&str>) -> Vec<NodeIndex> {
    engine
        .graph
        .order
        .iter()
        .copied()
        .filter(|&index| {
            let node = engine.graph.node(index);
            stage.is_none_or(|s| node.stage == s) && !metrics_outputs(engine, node).is_empty()
        })
        .collect()
}

/// The node's metrics outputs: entry output name → file inside it (typed outputs are
/// folders holding `metrics.json`; shell metrics are files).
pub fn metrics_outputs(
    engine: &Engine<'_>,
    node: &NodeSpec,
) -> Vec<(String, Option<&'static str>)> {
    match &node.action {
        Action::Shell(shell) => shell
            .metrics
            .iter()
            .map(|m| (m.to_string(), None))
            .collect(),
        Action::Typed(_) => engine
            .graph
            .typed_outputs(node)
            .iter()
            .filter(|port| port.ty == ArtifactType::Metrics)
            .map(|port| (port.name.to_owned(), Some(TYPED_METRICS_FILE)))
            .collect(),
    }
}

/// One row per node of `nodes`, from `plans` (which must cover them). With
/// `use_records`, a stale node falls back to its last run's key.
pub fn collect_rows(
    engine: &Engine<'_>,
    plans: &[NodePlan],
    nodes: &[NodeIndex],
    use_records: bool,
) -> Vec<MetricsRow> {
    let by_name: HashMap<&str, &NodePlan> = plans.iter().map(|p| (p.stage.as_str(), p)).collect();
    nodes
        .iter()
        .map(|&index| {
            let node = engine.graph.node(index);
            row(
                engine,
                node,
                by_name.get(node.name.as_str()).copied(),
                use_records,
            )
        })
        .collect()
}

fn row(
    engine: &Engine<'_>,
    node: &NodeSpec,
    plan: Option<&NodePlan>,
    use_records: bool,
) -> MetricsRow {
    let mut problems = Vec::new();
    let mut lookup = |key: Digest| match engine.store.get_action(&key) {
        Ok(entry) => entry,
        Err(err) => {
            problems.push(format!(
                "failed to read the entry of key {}: {err}",
                key.short()
            ));
            None
        }
    };
    // The current key first; a stale node's last run second.
    let fresh = plan
        .filter(|p| !matches!(p.state, NodeState::Stale { .. }))
        .and_then(|p| Some((p.key_digest?, p.key_fields.clone()?)));
    let mut found = fresh.and_then(|(key, fields)| {
        lookup(key).map(|entry| (RowState::UpToDate, key, fields.params, entry))
    });
    if found.is_none() && use_records {
        found = read_record(engine.project, &node.name).and_then(|record| {
            let entry = lookup(record.key)?;
            Some((RowState::Stale, record.key, record.key_fields.params, entry))
        });
    }
    let (state, key, params, metrics) = match found {
        Some((state, key, params, entry)) => {
            let metrics = read_metrics(engine, node, &entry, &mut problems);
            (state, Some(key), params, metrics)
        }
        None => (RowState::NeverRun, None, spec_params(node), BTreeMap::new()),
    };
    MetricsRow {
        node: node.name.clone(),
        stage: node.stage.clone(),
        state,
        key,
        axes: node.matrix.clone(),
        params: flatten_object(&params, false),
        metrics,
        problems,
    }
}

fn spec_params(node: &NodeSpec) -> BTreeMap<String, Value> {
    match &node.action {
        Action::Shell(shell) => shell.params.clone(),
        Action::Typed(typed) => typed.params.clone(),
    }
}

fn read_metrics(
    engine: &Engine<'_>,
    node: &NodeSpec,
    entry: &ActionEntry,
    problems: &mut Vec<String>,
) -> BTreeMap<String, Value> {
    let outputs = metrics_outputs(engine, node);
    let several = outputs.len() > 1;
    let mut metrics = BTreeMap::new();
    for (name, inner) in &outputs {
        let Some(artifact) = entry.outputs.get(name) else {
            problems.push(format!("the entry has no output `{name}`"));
            continue;
        };
        match read_json_artifact(engine.store, artifact, *inner) {
            Ok(Value::Object(map)) => {
                let map: BTreeMap<String, Value> = map.into_iter().collect();
                for (metric, value) in flatten_object(&map, true) {
                    let column = if several {
                        format!("{name}:{metric}")
                    } else {
                        metric
                    };
                    metrics.insert(column, value);
                }
            }
            Ok(_) => problems.push(format!("metrics `{name}` are not a JSON object")),
            Err(err) => problems.push(format!("failed to read metrics `{name}`: {err}")),
        }
    }
    metrics
}

/// Parses a JSON file out of the store: `artifact` itself, or `inner` inside a folder.
pub fn read_json_artifact(
    store: &Store,
    artifact: &Artifact,
    inner: Option<&str>,
) -> Result<Value, String> {
    let (digest, size) = match (artifact, inner) {
        (Artifact::File { digest, size, .. }, None) => (*digest, *size),
        (Artifact::Dir { manifest, .. }, Some(inner)) => {
            let tree = store.read_manifest(manifest).map_err(|e| e.to_string())?;
            let entry = tree
                .entries
                .get(inner)
                .ok_or_else(|| format!("the folder holds no {inner}"))?;
            (entry.digest, entry.size)
        }
        (Artifact::Dir { .. }, None) => return Err("it is a folder, not a JSON file".into()),
        (Artifact::File { .. }, Some(inner)) => {
            return Err(format!("it is a file, not a folder holding {inner}"));
        }
    };
    if size > MAX_METRICS_BYTES {
        return Err(format!(
            "it is {size} bytes, over the {MAX_METRICS_BYTES}-byte limit"
        ));
    }
    let bytes = store.read_blob(&digest).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("it is not JSON: {e}"))
}

/// Nested objects become `a.b` names. Arrays and nulls are left out of metrics (they are
/// not one number); in params an array is kept as one value.
pub fn flatten_object(map: &BTreeMap<String, Value>, metrics: bool) -> BTreeMap<String, Value> {
    let mut flat = BTreeMap::new();
    for (name, value) in map {
        flatten_into(name, value, metrics, &mut flat);
    }
    flat
}

fn flatten_into(prefix: &str, value: &Value, metrics: bool, flat: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                flatten_into(&format!("{prefix}.{name}"), inner, metrics, flat);
            }
        }
        Value::Array(_) | Value::Null if metrics => {}
        other => {
            flat.insert(prefix.to_owned(), other.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattening_names_nested_values_and_drops_arrays_from_metrics() {
        let map: BTreeMap<String, Value> = [
            ("acc".to_owned(), json!(0.5)),
            (
                "per_class".to_owned(),
                json!({"a": {"f1": 1}, "b": {"f1": 0}}),
            ),
            ("confusion".to_owned(), json!([[1, 0], [0, 1]])),
            ("device".to_owned(), json!("cpu")),
            ("none".to_owned(), Value::Null),
        ]
        .into_iter()
        .collect();
        let metrics = flatten_object(&map, true);
        let names: Vec<&str> = metrics.keys().map(String::as_str).collect();
        assert_eq!(names, ["acc", "device", "per_class.a.f1", "per_class.b.f1"]);
        let params = flatten_object(&map, false);
        assert_eq!(params["confusion"], json!([[1, 0], [0, 1]]));
        assert_eq!(params["none"], Value::Null);
    }
}
