//! How long the nodes a run will execute are expected to take, from the durations
//! recorded in the action cache: the node's own last run (its key has changed since, but
//! its cost rarely has), else the mean of its stage's other nodes (a matrix's cells cost
//! about the same), else the mean of recorded nodes of the same kind.

use std::collections::BTreeMap;

use petgraph::graph::NodeIndex;

use super::engine::Engine;
use super::plan::{NodeState, Planned, plan_entries};
use super::record::read_record;
use crate::spec::NodeSpec;

/// Estimated milliseconds of every node in `nodes` that the plan (`planned`, in `nodes`'
/// order; made here when not given) says will execute and that has some recorded history;
/// empty when nothing was ever recorded.
pub fn run_estimates(
    engine: &Engine<'_>,
    nodes: &[NodeIndex],
    planned: Option<&[Planned]>,
) -> BTreeMap<String, u64> {
    let has_history = std::fs::read_dir(engine.project.node_records_dir())
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if !has_history {
        return BTreeMap::new();
    }
    let made;
    let planned = match planned {
        Some(planned) => planned,
        None => {
            made = plan_entries(engine, nodes);
            &made
        }
    };
    // A no-op run (nothing stale) must not read every node's history.
    let stale: Vec<NodeIndex> = planned
        .iter()
        .zip(nodes)
        .filter(|(p, _)| matches!(p.plan.state, NodeState::Stale { .. }))
        .map(|(_, &index)| index)
        .collect();
    if stale.is_empty() {
        return BTreeMap::new();
    }
    let recorded: Vec<(&NodeSpec, u64)> = engine
        .graph
        .order
        .iter()
        .map(|&i| engine.graph.node(i))
        .filter_map(|node| Some((node, recorded_ms(engine, node)?)))
        .collect();
    let mean = |pick: &dyn Fn(&NodeSpec) -> bool| {
        let picked: Vec<u64> = recorded
            .iter()
            .filter(|(n, _)| pick(n))
            .map(|(_, ms)| *ms)
            .collect();
        (!picked.is_empty()).then(|| picked.iter().sum::<u64>() / picked.len() as u64)
    };
    stale
        .into_iter()
        .filter_map(|index| {
            let node = engine.graph.node(index);
            let own = recorded
                .iter()
                .find(|(n, _)| n.name == node.name)
                .map(|(_, ms)| *ms);
            let estimate = own
                .or_else(|| mean(&|n| n.stage == node.stage))
                .or_else(|| mean(&|n| n.kind_label() == node.kind_label()))?;
            Some((node.name.clone(), estimate))
        })
        .collect()
}

fn recorded_ms(engine: &Engine<'_>, node: &NodeSpec) -> Option<u64> {
    let record = read_record(engine.project, &node.name)?;
    let entry = engine.store.get_action(&record.key).ok().flatten()?;
    Some(entry.duration_ms)
}
