//! A no-op run's fast path: the nodes the plan found up to date end as cached straight from
//! the plan, on all cores, instead of being planned a second time by the scheduler's
//! workers one by one (a 600-node grid was keyed, looked up and hashed twice).

use std::collections::HashSet;

use petgraph::graph::NodeIndex;

use super::engine::Engine;
use super::parallel::map_in_order;
use super::plan::{NodeState, Planned};
use super::process::{NodeDone, reuse_planned};

/// The nodes of `nodes` that end as cached without the scheduler, in `nodes`' order: up to
/// date in the plan, confirmed by [`reuse_planned`], and every dependency among them too
/// (a node whose dependency goes through the scheduler waits for it like any other).
pub fn reuse_up_to_date(
    engine: &Engine<'_>,
    nodes: &[NodeIndex],
    planned: Vec<Planned>,
) -> Vec<(NodeIndex, NodeDone)> {
    let candidates: Vec<(NodeIndex, Planned)> = nodes
        .iter()
        .copied()
        .zip(planned)
        .filter(|(_, p)| p.plan.state == NodeState::UpToDate && p.entry.is_some())
        .collect();
    let confirmed = map_in_order(&candidates, |(index, planned)| {
        let (Some(fields), Some(entry)) = (&planned.plan.key_fields, &planned.entry) else {
            return None;
        };
        let node = engine.graph.node(*index);
        // A failure here (say an output behind a symlink) is left to the scheduler, which
        // reports it the usual way.
        reuse_planned(engine, node, fields, entry.clone()).ok()
    });
    let mut reused: HashSet<NodeIndex> = HashSet::new();
    let mut done = Vec::new();
    for ((index, _), result) in candidates.into_iter().zip(confirmed) {
        let Some(result) = result else { continue };
        let deps_reused = engine
            .graph
            .dependencies(index)
            .all(|(dep, _)| reused.contains(&dep));
        if deps_reused {
            reused.insert(index);
            done.push((index, result));
        }
    }
    done
}

#[cfg(test)]
#[path = "reuse_tests.rs"]
mod tests;
