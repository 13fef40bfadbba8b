//! The Slurm executor. Nodes whose results are in the store (or on the remote) are reused
//! here, as in a local run; every other node becomes one `sbatch` job running
//! `augflow exec-node`, with `--dependency=afterok:` on the jobs of its inputs, so Slurm
//! orders them and runs independent ones in parallel. The runner then polls `squeue`,
//! turns job states into events, and takes each finished node's result from the store.
//!
//! Jobs of unfinished nodes are kept in `.augflow/slurm/jobs.json`; a restarted runner
//! adopts those still queued or running instead of submitting them again.
//!
//! Layout: `submit.rs` (reuse, adoption, submission), `poll.rs` (job states → node
//! outcomes, failures, Ctrl-C), `client.rs` (the seam to Slurm), `commands.rs` (the real
//! client commands), `state.rs` (files that outlive the runner), `exec.rs` (the job side).

mod client;
mod commands;
mod exec;
mod gres;
mod poll;
mod state;
mod submit;

#[cfg(test)]
mod array_tests;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use augflow_cache::Artifact;
use petgraph::graph::NodeIndex;

use super::engine::Engine;
use super::events::{Event, RunSummary};
use super::ledger::{Outcome, RunLedger};
use crate::project::SlurmConfig;
use augflow_stages::error_chain;
use state::{JOBS_FORMAT, JobsFile, read_jobs, write_jobs};

pub use client::{SlurmClient, SlurmCommands};
pub use exec::exec_node;
pub use state::{JobResult, jobs_path};

/// Default seconds between two `squeue` polls.
const DEFAULT_POLL_SECONDS: f64 = 2.0;
/// Default cap on the jobs of one run queued or running at once: half of a common
/// `MaxSubmitJobs` of 1,000 per user, leaving room for the user's other work.
pub const DEFAULT_MAX_QUEUED: usize = 500;
/// Default most tasks in one job array: within Slurm's default `MaxArraySize` (1001).
pub const DEFAULT_ARRAY_SIZE: usize = 1000;

/// A node whose job is queued or running.
struct Active {
    job: String,
    log: PathBuf,
    submitted: Instant,
    state: Option<String>,
    executing: bool,
}

struct SlurmRun<'e, 'a> {
    engine: &'e Engine<'a>,
    client: &'e dyn SlurmClient,
    config: &'e SlurmConfig,
    keep_going: bool,
    selected: BTreeSet<NodeIndex>,
    position: HashMap<NodeIndex, usize>,
    ledger: RunLedger,
    produced: HashMap<String, BTreeMap<String, Artifact>>,
    active: BTreeMap<NodeIndex, Active>,
    /// Misses not submitted yet, in topological order.
    pending: BTreeSet<(usize, NodeIndex)>,
    max_queued: usize,
    /// Attempts so far of nodes the runner submitted again (absent: one).
    attempts: HashMap<NodeIndex, u32>,
    /// What jobs are submitted for (see `submit::pipeline_fingerprint`).
    fingerprint: String,
    jobs: JobsFile,
    jobs_dirty: bool,
    stop: bool,
}

/// Brings `nodes` (topologically ordered, ancestors included) up to date through Slurm.
pub fn run_slurm(
    engine: &Engine<'_>,
    nodes: &[NodeIndex],
    keep_going: bool,
    emit: &mut dyn FnMut(&Event),
) -> RunSummary {
    let client = SlurmCommands {
        config: &engine.project.executor.slurm,
    };
    run_slurm_with(engine, &client, nodes, keep_going, emit)
}

/// [`run_slurm`] through the given client.
pub fn run_slurm_with(
    engine: &Engine<'_>,
    client: &dyn SlurmClient,
    nodes: &[NodeIndex],
    keep_going: bool,
    emit: &mut dyn FnMut(&Event),
) -> RunSummary {
    let mut run = SlurmRun {
        engine,
        client,
        config: &engine.project.executor.slurm,
        keep_going,
        selected: nodes.iter().copied().collect(),
        position: nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect(),
        ledger: RunLedger::new(),
        produced: HashMap::new(),
        active: BTreeMap::new(),
        pending: BTreeSet::new(),
        max_queued: engine
            .project
            .executor
            .slurm
            .max_queued
            .map_or(DEFAULT_MAX_QUEUED, NonZeroUsize::get),
        attempts: HashMap::new(),
        fingerprint: submit::pipeline_fingerprint(engine),
        jobs: read_jobs(&jobs_path(engine.project)),
        jobs_dirty: false,
        stop: false,
    };
    run.jobs.format = JOBS_FORMAT;
    let misses = run.reuse_hits(nodes, emit);
    run.adopt_or_queue(&misses, emit);
    run.poll(emit);
    run.save_jobs(emit);
    run.ledger.skip_unfinished(engine, nodes, emit);
    run.ledger.into_summary(engine)
}

impl SlurmRun<'_, '_> {
    fn deps(&self, index: NodeIndex) -> Vec<NodeIndex> {
        let mut deps: Vec<NodeIndex> = self
            .engine
            .graph
            .dependencies(index)
            .map(|(dep, _)| dep)
            .filter(|dep| self.selected.contains(dep))
            .collect();
        deps.sort();
        deps.dedup();
        deps
    }

    fn blocked(&self, index: NodeIndex) -> bool {
        self.ledger.failed_dependency(self.engine, index).is_some()
    }

    fn halted(&mut self) -> bool {
        self.stop |= self.engine.cancel.is_cancelled();
        self.stop
    }

    fn finish(&mut self, index: NodeIndex, outcome: Outcome, emit: &mut dyn FnMut(&Event)) {
        let attempts = self.attempts.get(&index).copied().unwrap_or(1);
        self.ledger
            .finish(self.engine, index, outcome.attempts(attempts), emit);
    }

    fn skip(&mut self, index: NodeIndex, emit: &mut dyn FnMut(&Event)) {
        self.ledger.skip(self.engine, index, emit);
    }

    fn forget_job(&mut self, index: NodeIndex) {
        let name = &self.engine.graph.node(index).name;
        if self.jobs.nodes.remove(name).is_some() {
            self.jobs_dirty = true;
        }
    }

    fn save_jobs(&mut self, emit: &mut dyn FnMut(&Event)) {
        if !self.jobs_dirty {
            return;
        }
        let path = jobs_path(self.engine.project);
        match write_jobs(&path, &self.jobs) {
            Ok(()) => self.jobs_dirty = false,
            Err(err) => emit(&Event::Warning {
                stage: None,
                message: format!(
                    "failed to write {} (a restarted run would submit its nodes again): {err}",
                    path.display()
                ),
            }),
        }
    }

    /// Sleeps, waking early on Ctrl-C.
    fn sleep(&self, total: Duration) {
        let deadline = Instant::now() + total;
        while Instant::now() < deadline && !self.engine.cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50).min(total));
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
