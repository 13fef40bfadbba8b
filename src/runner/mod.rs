//! Runs a validated graph against a store: scheduling, early cutoff through keys, cache
//! hits and restores, events. Renderers consume the events; nothing here prints.

mod at_rev;
mod cancel;
mod engine;
mod estimate;
mod events;
pub mod gpus;
mod key;
mod ledger;
mod lineage;
mod metrics;
mod metrics_group;
mod node_error;
mod parallel;
mod plan;
mod process;
mod record;
mod remote;
mod retry;
mod reuse;
mod schedule;
mod shell;
pub mod slurm;
mod supervise;
pub mod transfer;
mod typed;
mod worker_pool;

pub use at_rev::{RevCheckout, RevError, checkout_at, plan_at_rev};
pub use cancel::CancelToken;
pub use engine::Engine;
pub use events::{Event, NodeStatus, RunSummary};
pub use key::{KeyError, compute_key};
pub use lineage::{EntryLineage, LineageNode, StoreIndex, UsedBy};
pub use metrics::{MetricsRow, RowState, collect_rows, metrics_nodes};
pub use metrics_group::{Group, GroupError, Summary, group_rows};
pub use node_error::NodeError;
pub use plan::{Explanation, NodePlan, NodeState, explain, plan, plan_with};
pub use record::{NodeRecord, read_record, recorded_keys};
pub use remote::RemoteLink;

pub use crate::project::ExecutorKind;

use petgraph::graph::NodeIndex;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Nodes to bring up to date, with their ancestors; all nodes when empty.
    pub targets: Vec<NodeIndex>,
    pub jobs: usize,
    pub keep_going: bool,
    /// Where nodes that miss the cache execute.
    pub executor: ExecutorKind,
}

/// Brings the selected nodes up to date. Failures of single nodes are reported as events
/// and in the summary, not as an error.
pub fn run(engine: &Engine<'_>, options: &RunOptions, emit: &mut dyn FnMut(&Event)) -> RunSummary {
    let nodes = selected_nodes(engine, &options.targets);
    // A local run plans once: the estimate reads which nodes will execute, and the nodes
    // found up to date end as cached from the plan. The Slurm executor plans as it submits,
    // so it is planned here only if the estimate needs it.
    let planned =
        matches!(options.executor, ExecutorKind::Local).then(|| plan::plan_entries(engine, &nodes));
    emit(&Event::RunStarted {
        pipeline: engine.graph.pipeline.file.display().to_string(),
        nodes: nodes.len(),
        jobs: options.jobs,
        estimates: estimate::run_estimates(engine, &nodes, planned.as_deref()),
    });
    let summary = match options.executor {
        ExecutorKind::Local => {
            let schedule = schedule::Schedule {
                reused: reuse::reuse_up_to_date(engine, &nodes, planned.unwrap_or_default()),
                nodes,
                jobs: options.jobs.max(1),
                keep_going: options.keep_going,
            };
            schedule::run_schedule(engine, &schedule, emit)
        }
        ExecutorKind::Slurm => slurm::run_slurm(engine, &nodes, options.keep_going, emit),
    };
    if let Err(err) = engine.save_stat_cache() {
        emit(&Event::Warning {
            stage: None,
            message: format!("failed to save the stat cache (next run re-hashes): {err}"),
        });
    }
    emit(&Event::RunFinished(summary.clone()));
    summary
}

pub fn selected_nodes(engine: &Engine<'_>, targets: &[NodeIndex]) -> Vec<NodeIndex> {
    if targets.is_empty() {
        engine.graph.order.clone()
    } else {
        engine.graph.with_ancestors(targets)
    }
}
