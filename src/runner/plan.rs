//! What a run would do, without running anything: `status`, `explain`, `run --dry-run`
//! and the set of keys `gc` keeps.

use std::collections::{BTreeMap, HashMap, HashSet};

use augflow_cache::{ActionEntry, Artifact, CacheError, Digest};
use petgraph::graph::NodeIndex;
use serde::Serialize;

use super::engine::Engine;
use super::key::{KeyError, compute_key};
use super::parallel::map_in_order;
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

/// A node's plan and, when its key is in the store, the entry read for it (the run reuses
/// it instead of reading it again).
pub struct Planned {
    pub plan: NodePlan,
    pub entry: Option<ActionEntry>,
}

/// Outputs of the cached nodes planned so far, by node name.
type CachedOutputs = HashMap<String, BTreeMap<String, Artifact>>;

/// Plans `nodes` (topologically ordered, ancestors included).
pub fn plan(engine: &Engine<'_>, nodes: &[NodeIndex]) -> Vec<NodePlan> {
    plan_entries(engine, nodes)
        .into_iter()
        .map(|planned| planned.plan)
        .collect()
}

/// [`plan`] with the entries read, on all cores: nodes are planned in waves, a wave being
/// the nodes whose dependencies were all planned in earlier waves (a matrix stage's cells
/// are one wave), and the nodes of a wave are independent of each other.
pub fn plan_entries(engine: &Engine<'_>, nodes: &[NodeIndex]) -> Vec<Planned> {
    let position: HashMap<NodeIndex, usize> =
        nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut waves: Vec<Vec<usize>> = Vec::new();
    let mut wave_of = vec![0usize; nodes.len()];
    for (i, &index) in nodes.iter().enumerate() {
        let wave = engine
            .graph
            .dependencies(index)
            .filter_map(|(dep, _)| position.get(&dep))
            .map(|&p| wave_of[p] + 1)
            .max()
            .unwrap_or(0);
        wave_of[i] = wave;
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(i);
    }
    let mut cached_outputs = CachedOutputs::new();
    let mut stale: HashSet<NodeIndex> = HashSet::new();
    let mut slots: Vec<Option<Planned>> = (0..nodes.len()).map(|_| None).collect();
    for wave in waves {
        let planned = map_in_order(&wave, |&i| {
            plan_node(engine, nodes[i], &cached_outputs, &stale)
        });
        for (i, planned) in wave.into_iter().zip(planned) {
            note_planned(engine, nodes[i], &planned, &mut cached_outputs, &mut stale);
            slots[i] = Some(planned);
        }
    }
    slots.into_iter().flatten().collect()
}

/// [`plan`] one node at a time, calling `on_cached` with each node whose key is in the
/// store before any of its dependents is planned (a revision's plan restores outputs that
/// shell stages read).
pub fn plan_with(
    engine: &Engine<'_>,
    nodes: &[NodeIndex],
    on_cached: &mut dyn FnMut(NodeIndex, &ActionEntry),
) -> Vec<NodePlan> {
    let mut cached_outputs = CachedOutputs::new();
    let mut stale: HashSet<NodeIndex> = HashSet::new();
    let mut plans = Vec::with_capacity(nodes.len());
    for &index in nodes {
        let planned = plan_node(engine, index, &cached_outputs, &stale);
        if let Some(entry) = &planned.entry {
            on_cached(index, entry);
        }
        note_planned(engine, index, &planned, &mut cached_outputs, &mut stale);
        plans.push(planned.plan);
    }
    plans
}

/// What the nodes planned after `index` need to know of it.
fn note_planned(
    engine: &Engine<'_>,
    index: NodeIndex,
    planned: &Planned,
    cached_outputs: &mut CachedOutputs,
    stale: &mut HashSet<NodeIndex>,
) {
    if matches!(planned.plan.state, NodeState::Stale { .. }) {
        stale.insert(index);
    }
    if let Some(entry) = &planned.entry {
        let name = engine.graph.node(index).name.clone();
        cached_outputs.insert(name, entry.outputs.clone());
    }
}

/// One node, its dependencies planned: stale behind a stale dependency without computing
/// a key (its inputs do not exist yet), else from its key.
fn plan_node(
    engine: &Engine<'_>,
    index: NodeIndex,
    cached_outputs: &CachedOutputs,
    stale: &HashSet<NodeIndex>,
) -> Planned {
    let graph = engine.graph;
    let stale_deps: Vec<String> = graph
        .dependencies(index)
        .filter(|(dep, _)| stale.contains(dep))
        .map(|(dep, _)| graph.node(dep).name.clone())
        .collect();
    if stale_deps.is_empty() {
        let (plan, entry) = plan_one(engine, index, cached_outputs);
        return Planned { plan, entry };
    }
    let plan = NodePlan {
        stage: graph.node(index).name.clone(),
        state: NodeState::Stale {
            reasons: stale_deps
                .iter()
                .map(|dep| {
                    format!(
                        "dependency `{dep}` will run first; its new outputs decide this node's key"
                    )
                })
                .collect(),
        },
        key: None,
        key_digest: None,
        key_fields: None,
    };
    Planned { plan, entry: None }
}

/// The node's plan, with its action entry when the key is in the store (read once here,
/// since the plan of its dependents needs the entry's outputs).
fn plan_one(
    engine: &Engine<'_>,
    index: NodeIndex,
    cached_outputs: &CachedOutputs,
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
