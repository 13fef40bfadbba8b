//! What a run would do, without running anything: `status`, `explain`, `run --dry-run`
//! and the set of keys `gc` keeps.

use std::collections::{BTreeMap, HashMap};

use augflow_cache::{ActionEntry, Artifact, CacheError, Digest};
use petgraph::graph::NodeIndex;
use serde::Serialize;

use super::engine::Engine;
use super::key::{KeyError, compute_key};
use super::record::read_record;
use crate::hash::{KeyChange, StageKey, diff_keys};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum NodeState {
    /// Cached, and the workspace holds its outputs.
    UpToDate,
    /// Cached, but outputs are missing or were changed on disk: a run restores them.
    Restore,
    /// Will execute; `reasons` says why.
    Stale { reasons: Vec<String> },
}

#[derive(Debug, Clone, Serialize)]
pub struct NodePlan {
    pub stage: String,
    #[serde(flatten)]
    pub state: NodeState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip)]
    pub key_digest: Option<Digest>,
    #[serde(skip)]
    pub key_fields: Option<StageKey>,
}

/// Plans `nodes` (topologically ordered, ancestors included).
pub fn plan(engine: &Engine<'_>, nodes: &[NodeIndex]) -> Vec<NodePlan> {
    plan_with(engine, nodes, &mut |_, _| {})
}

/// [`plan`], calling `on_cached` with each node whose key is in the store before any of
/// its dependents is planned (a revision's plan restores outputs that shell stages read).
pub fn plan_with(
    engine: &Engine<'_>,
    nodes: &[NodeIndex],
    on_cached: &mut dyn FnMut(NodeIndex, &ActionEntry),
) -> Vec<NodePlan> {
    let graph = engine.graph;
    let mut cached_outputs: HashMap<String, BTreeMap<String, Artifact>> = HashMap::new();
    let mut stale: HashMap<NodeIndex, bool> = HashMap::new();
    let mut plans = Vec::with_capacity(nodes.len());
    for &index in nodes {
        let node = graph.node(index);
        let stale_deps: Vec<String> = graph
            .dependencies(index)
            .filter(|(dep, _)| stale.get(dep).copied().unwrap_or(false))
            .map(|(dep, _)| graph.node(dep).name.clone())
            .collect();
        let (plan, entry) = if stale_deps.is_empty() {
            plan_one(engine, index, &cached_outputs)
        } else {
            let plan = NodePlan {
                stage: node.name.clone(),
                state: NodeState::Stale {
                    reasons: stale_deps
                        .iter()
                        .map(|dep| format!("dependency `{dep}` will run first; its new outputs decide this node's key"))
                        .collect(),
                },
                key: None,
                key_digest: None,
                key_fields: None,
            };
            (plan, None)
        };
        stale.insert(index, matches!(plan.state, NodeState::Stale { .. }));
        plans.push(plan);
        if let Some(entry) = entry {
            on_cached(index, &entry);
            cached_outputs.insert(node.name.clone(), entry.outputs);
        }
    }
    plans
}

/// The node's plan, with its action entry when the key is in the store (read once here,
/// since the plan of its dependents needs the entry's outputs).
fn plan_one(
    engine: &Engine<'_>,
    index: NodeIndex,
    cached_outputs: &HashMap<String, BTreeMap<String, Artifact>>,
) -> (NodePlan, Option<ActionEntry>) {
    let node = engine.graph.node(index);
    let stale = |reasons: Vec<String>, fields: Option<StageKey>| {
        let plan = NodePlan {
            stage: node.name.clone(),
            state: NodeState::Stale { reasons },
            key: fields.as_ref().map(|k| k.digest().to_hex()),
            key_digest: fields.as_ref().map(StageKey::digest),
            key_fields: fields,
        };
        (plan, None)
    };
    let fields = match compute_key(engine, node, |name| cached_outputs.get(name)) {
        Ok(fields) => fields,
        Err(KeyError::MissingDependency { path }) => {
            return stale(
                vec![format!("dependency {} is missing", path.display())],
                None,
            );
        }
        Err(err) => return stale(vec![format!("cannot compute its key: {err}")], None),
    };
    let key = fields.digest();
    let entry = match engine.store.get_action(&key) {
        Ok(entry) => entry,
        Err(err) => return stale(vec![format!("cannot read the store: {err}")], Some(fields)),
    };
    let Some(entry) = entry else {
        let reasons = match read_record(engine.project, &node.name) {
            None => vec!["never run".to_owned()],
            Some(record) => {
                let changes = diff_keys(&record.key_fields, &fields);
                if changes.is_empty() {
                    vec!["its last result is no longer in the store".to_owned()]
                } else {
                    changes.iter().map(KeyChange::to_string).collect()
                }
            }
        };
        return stale(reasons, Some(fields));
    };
    let state = if outputs_match(engine, node, &entry.outputs) {
        NodeState::UpToDate
    } else {
        NodeState::Restore
    };
    let plan = NodePlan {
        stage: node.name.clone(),
        state,
        key: Some(key.to_hex()),
        key_digest: Some(key),
        key_fields: Some(fields),
    };
    (plan, Some(entry))
}

fn outputs_match(
    engine: &Engine<'_>,
    node: &crate::spec::NodeSpec,
    recorded: &BTreeMap<String, Artifact>,
) -> bool {
    engine.output_paths(node).iter().all(|(name, path)| {
        let current: Result<Artifact, CacheError> = engine.digest_path(path);
        match (current, recorded.get(name)) {
            (Ok(current), Some(recorded)) => current.digest() == recorded.digest(),
            _ => false,
        }
    })
}

/// `augflow explain`: what changed in the node's key since its last run.
pub fn explain(engine: &Engine<'_>, target: NodeIndex) -> Explanation {
    let nodes = engine.graph.with_ancestors(&[target]);
    let plans = plan(engine, &nodes);
    let node = engine.graph.node(target);
    let record = read_record(engine.project, &node.name);
    let plan = plans
        .into_iter()
        .find(|p| p.stage == node.name)
        .unwrap_or_else(|| unreachable!("the target is planned"));
    let changes = match (&record, &plan.key_fields) {
        (Some(record), Some(fields)) => diff_keys(&record.key_fields, fields)
            .iter()
            .map(KeyChange::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Explanation {
        stage: node.name.clone(),
        previous_key: record.map(|r| r.key.to_hex()),
        changes,
        plan,
    }
}

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub stage: String,
    pub previous_key: Option<String>,
    /// Key fields that differ from the last run, `field: old → new`.
    pub changes: Vec<String>,
    pub plan: NodePlan,
}
