//! Following the jobs: each poll's job states become events and node outcomes; a failed
//! job cancels its dependents' jobs, and a stop (Ctrl-C, or a failure without
//! `--keep-going`) cancels every job of the run.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use petgraph::graph::NodeIndex;

use super::commands::{JobInfo, Phase, log_tail};
use super::state::read_result;
use super::{DEFAULT_POLL_SECONDS, SlurmRun, error_chain, millis};
use crate::runner::events::{Event, NodeStatus};
use crate::runner::ledger::Outcome;
use crate::runner::node_error::NodeError;
use crate::runner::process::restore_node;
use crate::runner::retry::{self, Cause};

/// Consecutive failed polls after which the runner gives up on its jobs.
const MAX_QUERY_FAILURES: u32 = 30;
/// Lines of a failed job's log quoted in its failure message.
const LOG_TAIL_LINES: usize = 20;

/// Whether a job's end may be retried, and as what: a job lost with its machine or
/// killed for memory is a resource failure (`run --retries` covers it), its command's
/// failure or time limit the stage's own (only the stage's `retries:` covers it).
/// Cancellations and unmet dependencies never are.
fn retry_cause(info: &JobInfo) -> Option<Cause> {
    match info.state.as_str() {
        "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL" | "OUT_OF_MEMORY" => {
            Some(Cause::Resources(info.state.clone()))
        }
        "FAILED" | "TIMEOUT" => Some(Cause::Stage(info.state.clone())),
        _ => None,
    }
}

impl SlurmRun<'_, '_> {
    /// Submits and follows the jobs until none is queued or running and none can be
    /// submitted.
    pub(super) fn poll(&mut self, emit: &mut dyn FnMut(&Event)) {
        let interval = Duration::from_secs_f64(
            self.config
                .poll_seconds
                .unwrap_or(DEFAULT_POLL_SECONDS)
                .max(0.05),
        );
        let mut query_failures = 0u32;
        loop {
            if !self.halted() {
                self.submit_ready(emit);
            }
            if self.halted() {
                self.cancel_all(emit);
                return;
            }
            if self.active.is_empty() {
                return;
            }
            let ids: Vec<String> = self.active.values().map(|a| a.job.clone()).collect();
            let states = match self.client.query(&ids) {
                Ok(states) => {
                    query_failures = 0;
                    states
                }
                Err(err) => {
                    query_failures += 1;
                    if query_failures == 1 {
                        emit(&Event::Warning {
                            stage: None,
                            message: format!(
                                "failed to poll Slurm (retrying): {}",
                                error_chain(&err)
                            ),
                        });
                    }
                    if query_failures >= MAX_QUERY_FAILURES {
                        let message = format!(
                            "lost track of its job: squeue failed {query_failures} times in a row: {}",
                            error_chain(&err)
                        );
                        let active: Vec<NodeIndex> = self.active.keys().copied().collect();
                        for index in active {
                            self.active.remove(&index);
                            self.fail(index, message.clone(), 0, None, emit);
                        }
                        return;
                    }
                    self.sleep(interval);
                    continue;
                }
            };
            self.observe(&states, emit);
            self.save_jobs(emit);
            if !self.active.is_empty() {
                self.sleep(interval);
            }
        }
    }

    /// Applies one poll's answer, in topological order.
    fn observe(&mut self, states: &BTreeMap<String, JobInfo>, emit: &mut dyn FnMut(&Event)) {
        let mut order: Vec<NodeIndex> = self.active.keys().copied().collect();
        order.sort_by_key(|index| self.position[index]);
        for index in order {
            if self.stop {
                return;
            }
            let Some(active) = self.active.get_mut(&index) else {
                continue; // skipped because a dependency failed earlier in this loop
            };
            let stage = self.engine.graph.node(index).name.clone();
            let info = states.get(&active.job);
            if let Some(info) = info {
                if active.state.as_deref() != Some(info.state.as_str()) {
                    active.state = Some(info.state.clone());
                    emit(&Event::JobState {
                        stage: stage.clone(),
                        job: active.job.clone(),
                        state: info.state.clone(),
                        reason: info.reason.clone(),
                    });
                }
                // A short job may start and end between two polls.
                if matches!(info.phase(), Phase::Running | Phase::Completed) && !active.executing {
                    active.executing = true;
                    emit(&Event::NodeExecuting {
                        stage: stage.clone(),
                    });
                }
            }
            match info.map(JobInfo::phase) {
                Some(Phase::Queued | Phase::Running) => {}
                Some(Phase::Completed) => self.complete(index, emit),
                Some(Phase::Failed) => {
                    if info.is_some_and(|info| self.submit_again(index, info, emit)) {
                        continue;
                    }
                    let info = info.map_or_else(String::new, |info| {
                        let reason = info
                            .reason
                            .as_ref()
                            .map_or_else(String::new, |r| format!(" ({r})"));
                        format!("ended {}{reason}", info.state)
                    });
                    self.job_failed(index, &info, emit);
                }
                // Slurm forgot the job (MinJobAge): its result file tells how it ended.
                None => {
                    let job = self.active[&index].job.clone();
                    match read_result(self.engine.project, &stage, &job) {
                        Some(result) if result.error.is_none() => self.complete(index, emit),
                        _ => self.job_failed(index, "left the queue without a result", emit),
                    }
                }
            }
        }
    }

    /// A job ended well: the node's result must now be in the store.
    fn complete(&mut self, index: NodeIndex, emit: &mut dyn FnMut(&Event)) {
        let Some(active) = self.active.remove(&index) else {
            return;
        };
        let node = self.engine.graph.node(index);
        let result = read_result(self.engine.project, &node.name, &active.job);
        let produced = &self.produced;
        let log = Some(active.log.display().to_string());
        match restore_node(self.engine, node, |name| produced.get(name)) {
            Ok(done) => {
                let warnings = result
                    .as_ref()
                    .map(|r| r.warnings.clone())
                    .unwrap_or_default();
                for message in warnings.iter().chain(&done.warnings) {
                    emit(&Event::Warning {
                        stage: Some(node.name.clone()),
                        message: message.clone(),
                    });
                }
                self.produced.insert(node.name.clone(), done.outputs);
                // The job decided whether it executed or found the result (e.g. another
                // run's job published it first).
                let status = result
                    .as_ref()
                    .and_then(|r| r.status)
                    .unwrap_or(NodeStatus::Executed);
                let ms = result
                    .as_ref()
                    .map_or_else(|| millis(active.submitted.elapsed()), |r| r.duration_ms);
                let outcome = Outcome::new(status)
                    .key(done.key.to_hex())
                    .millis(ms)
                    .log(log);
                self.finish(index, outcome, emit);
            }
            Err(err) => {
                let message = match err {
                    NodeError::NotCached => format!(
                        "job {} completed, but the store holds no result for the node's current key",
                        active.job
                    ),
                    other => other.chain(),
                };
                let ms = millis(active.submitted.elapsed());
                self.fail(index, message, ms, log, emit);
            }
        }
        self.forget_job(index);
    }

    fn job_failed(&mut self, index: NodeIndex, how: &str, emit: &mut dyn FnMut(&Event)) {
        let Some(active) = self.active.remove(&index) else {
            return;
        };
        if self.blocked(index) {
            // Cancelled by Slurm because a dependency failed.
            self.forget_job(index);
            self.skip(index, emit);
            return;
        }
        let node = self.engine.graph.node(index);
        let mut message = format!("job {} {how}", active.job);
        if let Some(error) =
            read_result(self.engine.project, &node.name, &active.job).and_then(|r| r.error)
        {
            message.push_str(&format!(": {error}"));
        } else {
            let tail = log_tail(&active.log, LOG_TAIL_LINES);
            if !tail.is_empty() {
                message.push('\n');
                message.push_str(&tail);
            }
        }
        let ms = millis(active.submitted.elapsed());
        let log = Some(active.log.display().to_string());
        self.fail(index, message, ms, log, emit);
        self.forget_job(index);
    }

    /// Marks a node failed; its queued dependents are cancelled (they show as skipped),
    /// and without `--keep-going` the whole run stops.
    pub(super) fn fail(
        &mut self,
        index: NodeIndex,
        message: String,
        ms: u64,
        log: Option<String>,
        emit: &mut dyn FnMut(&Event),
    ) {
        self.finish(index, Outcome::failed(message).millis(ms).log(log), emit);
        if !self.keep_going {
            self.stop = true;
            return;
        }
        // Slurm cancels them anyway (--kill-on-invalid-dep); this is immediate.
        for index in self.cancel_descendants(index, emit) {
            self.forget_job(index);
            self.skip(index, emit);
        }
    }

    /// Cancels the jobs of the nodes downstream of `index` (their `afterok` can no longer
    /// be met); returns those nodes, in topological order.
    fn cancel_descendants(
        &mut self,
        index: NodeIndex,
        emit: &mut dyn FnMut(&Event),
    ) -> Vec<NodeIndex> {
        let mut doomed = self.active_descendants(index);
        doomed.sort_by_key(|index| self.position[index]);
        let ids: Vec<String> = doomed
            .iter()
            .filter_map(|i| self.active.remove(i).map(|a| a.job))
            .collect();
        if let Err(err) = self.client.cancel(&ids) {
            emit(&Event::Warning {
                stage: None,
                message: format!("failed to cancel jobs {}: {err}", ids.join(", ")),
            });
        }
        doomed
    }

    /// A job lost with its machine (`NODE_FAIL`, `PREEMPTED`…), or failed by the node's
    /// own error, that the node's retries cover: the node is submitted again, and so are
    /// its dependents, whose jobs waited on the lost one. Slurm's own `--requeue` keeps
    /// the job id and is tried first; this covers clusters that end the job instead.
    fn submit_again(
        &mut self,
        index: NodeIndex,
        info: &JobInfo,
        emit: &mut dyn FnMut(&Event),
    ) -> bool {
        let Some(cause) = retry_cause(info) else {
            return false;
        };
        let node = self.engine.graph.node(index);
        let attempt = self.attempts.get(&index).copied().unwrap_or(1);
        if attempt >= retry::allowed_attempts(node, self.engine.retries, &cause) || self.halted() {
            return false;
        }
        let Some(lost) = self.active.remove(&index) else {
            return false;
        };
        let stage = node.name.clone();
        tracing::info!(node = %stage, job = %lost.job, state = %info.state, "submitting again");
        let mut again = self.cancel_descendants(index, emit);
        again.push(index);
        for node in again {
            self.forget_job(node);
            self.pending.insert((self.position[&node], node));
        }
        self.attempts.insert(index, attempt + 1);
        emit(&Event::NodeRetrying {
            stage,
            attempt: attempt + 1,
            reason: format!("job {} ended {}", lost.job, info.state),
        });
        true
    }

    /// Nodes downstream of `index` whose jobs are queued or running.
    fn active_descendants(&self, index: NodeIndex) -> Vec<NodeIndex> {
        let mut found: Vec<NodeIndex> = Vec::new();
        let mut stack: Vec<NodeIndex> = self.engine.graph.dependents(index).collect();
        let mut seen: HashSet<NodeIndex> = HashSet::new();
        while let Some(next) = stack.pop() {
            if seen.insert(next) {
                if self.active.contains_key(&next) {
                    found.push(next);
                }
                stack.extend(self.engine.graph.dependents(next));
            }
        }
        found
    }

    /// Ctrl-C, or a failure without `--keep-going`: `scancel` every job of this run.
    fn cancel_all(&mut self, emit: &mut dyn FnMut(&Event)) {
        let ids: Vec<String> = self.active.values().map(|a| a.job.clone()).collect();
        if let Err(err) = self.client.cancel(&ids) {
            emit(&Event::Warning {
                stage: None,
                message: format!("failed to cancel jobs {}: {err}", ids.join(", ")),
            });
        }
        let cancelled = self.engine.cancel.is_cancelled();
        let active = std::mem::take(&mut self.active);
        for (index, job) in active {
            self.forget_job(index);
            // Running nodes end as failed (cancelled), queued ones as skipped, as locally.
            if job.executing && cancelled {
                let message = format!("cancelled (job {} cancelled with scancel)", job.job);
                let outcome = Outcome::failed(message)
                    .millis(millis(job.submitted.elapsed()))
                    .log(Some(job.log.display().to_string()));
                self.finish(index, outcome, emit);
            }
        }
        self.save_jobs(emit);
    }
}
