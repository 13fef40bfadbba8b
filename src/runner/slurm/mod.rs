//! The Slurm executor. Nodes whose results are in the store (or on the remote) are reused
//! here, as in a local run; every other node becomes one `sbatch` job running
//! `augflow exec-node`, with `--dependency=afterok:` on the jobs of its inputs, so Slurm
//! orders them and runs independent ones in parallel. The runner then polls `squeue`,
//! turns job states into events, and takes each finished node's result from the store.
//!
//! Jobs of unfinished nodes are kept in `.augflow/slurm/jobs.json`; a restarted runner
//! adopts those still queued or running instead of submitting them again.

mod commands;
mod exec;
mod gres;
mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use augflow_cache::Artifact;
use petgraph::graph::NodeIndex;

use super::engine::Engine;
use super::events::{Event, NodeStatus, RunSummary};
use super::node_error::NodeError;
use super::process::restore_node;
use super::schedule::first_failed_dependency;
use crate::project::SlurmConfig;
use commands::{JobInfo, Phase, SlurmError, Submission};
use state::{JOBS_FORMAT, JobRecord, JobsFile, read_jobs, read_result, write_jobs};

pub use exec::exec_node;
pub use state::{JobResult, jobs_path};

/// Default seconds between two `squeue` polls.
const DEFAULT_POLL_SECONDS: f64 = 2.0;
/// Consecutive failed polls after which the runner gives up on its jobs.
const MAX_QUERY_FAILURES: u32 = 30;
/// Lines of a failed job's log quoted in its failure message.
const LOG_TAIL_LINES: usize = 20;

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
    config: &'e SlurmConfig,
    keep_going: bool,
    selected: BTreeSet<NodeIndex>,
    position: HashMap<NodeIndex, usize>,
    finished: HashMap<NodeIndex, NodeStatus>,
    produced: HashMap<String, BTreeMap<String, Artifact>>,
    active: BTreeMap<NodeIndex, Active>,
    jobs: JobsFile,
    jobs_dirty: bool,
    summary: RunSummary,
    stop: bool,
}

/// Brings `nodes` (topologically ordered, ancestors included) up to date through Slurm.
pub fn run_slurm(
    engine: &Engine<'_>,
    nodes: &[NodeIndex],
    keep_going: bool,
    emit: &mut dyn FnMut(&Event),
) -> RunSummary {
    let started = Instant::now();
    let mut run = SlurmRun {
        engine,
        config: &engine.project.executor.slurm,
        keep_going,
        selected: nodes.iter().copied().collect(),
        position: nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect(),
        finished: HashMap::new(),
        produced: HashMap::new(),
        active: BTreeMap::new(),
        jobs: read_jobs(&jobs_path(engine.project)),
        jobs_dirty: false,
        summary: RunSummary::default(),
        stop: false,
    };
    run.jobs.format = JOBS_FORMAT;
    let misses = run.reuse_hits(nodes, emit);
    run.submit(&misses, emit);
    run.poll(emit);
    run.save_jobs(emit);

    for &index in nodes {
        if run.finished.contains_key(&index) {
            continue;
        }
        let reason = first_failed_dependency(engine, index, &run.finished).map_or_else(
            || "the run stopped before this node".to_owned(),
            |dep| format!("dependency `{dep}` did not complete"),
        );
        run.finish(
            index,
            NodeStatus::Skipped,
            None,
            0,
            Some(reason),
            None,
            emit,
        );
    }
    let mut summary = run.summary;
    summary.interrupted = engine.cancel.is_cancelled();
    summary.duration_ms = millis(started.elapsed());
    summary
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
        self.deps(index).iter().any(|dep| {
            matches!(
                self.finished.get(dep),
                Some(NodeStatus::Failed | NodeStatus::Skipped)
            )
        })
    }

    fn halted(&mut self) -> bool {
        self.stop |= self.engine.cancel.is_cancelled();
        self.stop
    }

    /// Reuses what the store or the remote has, here; returns the nodes to submit, in order.
    fn reuse_hits(&mut self, nodes: &[NodeIndex], emit: &mut dyn FnMut(&Event)) -> Vec<NodeIndex> {
        let mut misses: Vec<NodeIndex> = Vec::new();
        let mut missed: HashSet<NodeIndex> = HashSet::new();
        for &index in nodes {
            if self.halted() {
                break;
            }
            if self.blocked(index) {
                continue;
            }
            // A node downstream of a miss has an unknown key until its inputs exist.
            if self.deps(index).iter().any(|dep| missed.contains(dep)) {
                missed.insert(index);
                misses.push(index);
                continue;
            }
            let started = Instant::now();
            let node = self.engine.graph.node(index);
            let produced = &self.produced;
            match restore_node(self.engine, node, |name| produced.get(name)) {
                Ok(done) => {
                    for message in &done.warnings {
                        emit(&Event::Warning {
                            stage: Some(node.name.clone()),
                            message: message.clone(),
                        });
                    }
                    self.produced.insert(node.name.clone(), done.outputs);
                    let key = Some(done.key.to_hex());
                    let ms = millis(started.elapsed());
                    self.finish(index, done.status, key, ms, None, None, emit);
                    // Done, maybe by a job of an earlier run: nothing to adopt any more.
                    self.forget_job(index);
                }
                Err(NodeError::NotCached) => {
                    missed.insert(index);
                    misses.push(index);
                }
                Err(err) => {
                    let ms = millis(started.elapsed());
                    self.fail(index, err.chain(), ms, None, emit);
                }
            }
        }
        misses
    }

    /// Submits each missed node (or adopts the job an earlier run left queued or running).
    fn submit(&mut self, misses: &[NodeIndex], emit: &mut dyn FnMut(&Event)) {
        if misses.is_empty() {
            return;
        }
        let fingerprint = pipeline_fingerprint(self.engine);
        let recorded: Vec<String> = misses
            .iter()
            .filter_map(|&i| self.jobs.nodes.get(&self.engine.graph.node(i).name))
            .map(|record| record.job.clone())
            .collect();
        // Not knowing whether earlier jobs still run must not lead to running nodes twice.
        let live = match commands::query(&recorded) {
            Ok(live) => live,
            Err(err) => {
                let message =
                    format!("cannot tell whether jobs of an earlier run still run: {err}");
                for &index in misses {
                    self.fail(index, message.clone(), 0, None, emit);
                }
                return;
            }
        };
        let mut adopted: HashSet<NodeIndex> = HashSet::new();
        for &index in misses {
            if self.halted() {
                return;
            }
            if self.blocked(index) {
                continue;
            }
            let deps = self.deps(index);
            let name = self.engine.graph.node(index).name.clone();
            let previous = self.jobs.nodes.get(&name).cloned();
            let previous_live = previous
                .as_ref()
                .and_then(|record| live.get(&record.job).map(|info| (record, info)))
                .filter(|(_, info)| matches!(info.phase(), Phase::Queued | Phase::Running));
            let deps_adopted = deps
                .iter()
                .filter(|dep| self.active.contains_key(dep))
                .all(|dep| adopted.contains(dep));
            if let Some((record, info)) = previous_live {
                if record.pipeline == fingerprint && deps_adopted {
                    adopted.insert(index);
                    let _ = info;
                    self.adopt(index, record.clone(), emit);
                    continue;
                }
                // Queued for another version of the pipeline, or behind a replaced job.
                if let Err(err) = commands::cancel(std::slice::from_ref(&record.job)) {
                    emit(&Event::Warning {
                        stage: Some(name.clone()),
                        message: format!("failed to cancel outdated job {}: {err}", record.job),
                    });
                }
            }
            let after_ok: Vec<String> = deps
                .iter()
                .filter_map(|dep| self.active.get(dep).map(|active| active.job.clone()))
                .collect();
            match self.submit_one(index, after_ok, &fingerprint) {
                Ok((record, log)) => {
                    emit(&Event::NodeSubmitted {
                        stage: name.clone(),
                        job: record.job.clone(),
                        log: log.display().to_string(),
                        adopted: false,
                    });
                    self.active.insert(
                        index,
                        Active {
                            job: record.job.clone(),
                            log,
                            submitted: Instant::now(),
                            state: None,
                            executing: false,
                        },
                    );
                    self.jobs.nodes.insert(name, record);
                    // Saved after every submission: a runner killed now still knows the job.
                    self.jobs_dirty = true;
                    self.save_jobs(emit);
                }
                Err(err) => self.fail(index, error_chain(&err), 0, None, emit),
            }
        }
    }

    fn adopt(&mut self, index: NodeIndex, record: JobRecord, emit: &mut dyn FnMut(&Event)) {
        let stage = self.engine.graph.node(index).name.clone();
        emit(&Event::NodeSubmitted {
            stage,
            job: record.job.clone(),
            log: record.log.display().to_string(),
            adopted: true,
        });
        self.active.insert(
            index,
            Active {
                job: record.job,
                log: record.log,
                submitted: Instant::now(),
                state: None,
                executing: false,
            },
        );
    }

    fn submit_one(
        &self,
        index: NodeIndex,
        after_ok: Vec<String>,
        fingerprint: &str,
    ) -> Result<(JobRecord, PathBuf), SlurmError> {
        let engine = self.engine;
        let project = engine.project;
        let node = engine.graph.node(index);
        let log = project
            .slurm_dir()
            .join("logs")
            .join(format!("{}.log", node.name));
        // An old result must never be taken for this job's.
        let _ = crate::fsutil::remove_path(&state::result_path(project, &node.name));
        let submission = Submission {
            job_name: format!("augflow:{}", node.name),
            workdir: project.root.clone(),
            log: log.clone(),
            after_ok,
            argv: self.job_argv(&node.name)?,
        };
        let mut resources = self.config.resources_for(node.kind_label());
        let uses_device = super::gpus::uses_device(engine, node);
        gres::overlay_declared(&mut resources, node.resources, uses_device, engine.backend);
        // Retries on a cluster: Slurm itself requeues a job lost with its node or
        // preempted (same job id, so `afterok` dependents stay valid).
        if node.retries.unwrap_or(0).max(engine.retries) > 0 {
            resources.extra.push("--requeue".to_owned());
        }
        let job = commands::submit(self.config, &resources, &submission)?;
        tracing::debug!(node = %node.name, %job, "submitted");
        Ok((
            JobRecord {
                job,
                pipeline: fingerprint.to_owned(),
                log: log.clone(),
                submitted_unix: unix_now(),
            },
            log,
        ))
    }

    /// `augflow [--store S] exec-node --node N [--remote R | --no-remote] --backend B PIPELINE`.
    fn job_argv(&self, node: &str) -> Result<Vec<String>, SlurmError> {
        let engine = self.engine;
        let bin = match &self.config.augflow_bin {
            Some(bin) => bin.clone(),
            None => std::env::current_exe().map_err(|source| SlurmError::Spawn {
                command: "augflow (find its own binary)",
                source,
            })?,
        };
        let mut argv = vec![
            bin.display().to_string(),
            "--store".to_owned(),
            engine.project.store_dir.display().to_string(),
            "exec-node".to_owned(),
            "--node".to_owned(),
            node.to_owned(),
            "--backend".to_owned(),
            backend_name(engine.backend).to_owned(),
        ];
        match &engine.remote {
            Some(link) => argv.extend(["--remote".to_owned(), link.name.clone()]),
            None => argv.push("--no-remote".to_owned()),
        }
        argv.push(engine.graph.pipeline.file.display().to_string());
        Ok(argv)
    }

    /// Follows the jobs until none is queued or running.
    fn poll(&mut self, emit: &mut dyn FnMut(&Event)) {
        let interval = Duration::from_secs_f64(
            self.config
                .poll_seconds
                .unwrap_or(DEFAULT_POLL_SECONDS)
                .max(0.05),
        );
        let mut query_failures = 0u32;
        while !self.active.is_empty() {
            if self.halted() {
                self.cancel_all(emit);
                return;
            }
            let ids: Vec<String> = self.active.values().map(|a| a.job.clone()).collect();
            let states = match commands::query(&ids) {
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
            let phase = match states.get(&active.job) {
                Some(info) => {
                    if active.state.as_deref() != Some(info.state.as_str()) {
                        active.state = Some(info.state.clone());
                        emit(&Event::JobState {
                            stage: stage.clone(),
                            job: active.job.clone(),
                            state: info.state.clone(),
                            reason: info.reason.clone(),
                        });
                    }
                    if info.phase() == Phase::Running && !active.executing {
                        active.executing = true;
                        emit(&Event::NodeExecuting {
                            stage: stage.clone(),
                        });
                    }
                    Some(info.phase())
                }
                None => None,
            };
            match phase {
                Some(Phase::Queued | Phase::Running) => {}
                Some(Phase::Completed) => {
                    // A short job may start and end between two polls.
                    if let Some(active) = self.active.get_mut(&index)
                        && !active.executing
                    {
                        active.executing = true;
                        emit(&Event::NodeExecuting {
                            stage: stage.clone(),
                        });
                    }
                    self.complete(index, emit);
                }
                Some(Phase::Failed) => {
                    let info = &states[&self.active[&index].job];
                    let reason = info
                        .reason
                        .clone()
                        .map_or_else(String::new, |r| format!(" ({r})"));
                    let message = format!("ended {}{reason}", info.state);
                    self.job_failed(index, &message, emit);
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
                let key = Some(done.key.to_hex());
                let log = Some(active.log.display().to_string());
                self.finish(index, status, key, ms, None, log, emit);
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
                self.fail(
                    index,
                    message,
                    ms,
                    Some(active.log.display().to_string()),
                    emit,
                );
            }
        }
        self.forget_job(index);
    }

    fn job_failed(&mut self, index: NodeIndex, how: &str, emit: &mut dyn FnMut(&Event)) {
        let Some(active) = self.active.remove(&index) else {
            return;
        };
        if self.blocked(index) {
            // Cancelled by Slurm because a dependency failed: reported as skipped later.
            self.forget_job(index);
            return;
        }
        let node = self.engine.graph.node(index);
        let mut message = format!("job {} {how}", active.job);
        if let Some(error) =
            read_result(self.engine.project, &node.name, &active.job).and_then(|r| r.error)
        {
            message.push_str(&format!(": {error}"));
        } else {
            let tail = commands::log_tail(&active.log, LOG_TAIL_LINES);
            if !tail.is_empty() {
                message.push('\n');
                message.push_str(&tail);
            }
        }
        let ms = millis(active.submitted.elapsed());
        self.fail(
            index,
            message,
            ms,
            Some(active.log.display().to_string()),
            emit,
        );
        self.forget_job(index);
    }

    /// Marks a node failed; its queued dependents are cancelled (they show as skipped),
    /// and without `--keep-going` the whole run stops.
    fn fail(
        &mut self,
        index: NodeIndex,
        message: String,
        ms: u64,
        log: Option<String>,
        emit: &mut dyn FnMut(&Event),
    ) {
        self.finish(
            index,
            NodeStatus::Failed,
            None,
            ms,
            Some(message),
            log,
            emit,
        );
        if !self.keep_going {
            self.stop = true;
            return;
        }
        let mut doomed: Vec<NodeIndex> = Vec::new();
        let mut stack: Vec<NodeIndex> = self.engine.graph.dependents(index).collect();
        let mut seen: HashSet<NodeIndex> = HashSet::new();
        while let Some(next) = stack.pop() {
            if seen.insert(next) {
                if self.active.contains_key(&next) {
                    doomed.push(next);
                }
                stack.extend(self.engine.graph.dependents(next));
            }
        }
        let ids: Vec<String> = doomed
            .iter()
            .filter_map(|i| self.active.remove(i).map(|a| a.job))
            .collect();
        // Slurm cancels them anyway (--kill-on-invalid-dep); this is immediate.
        if let Err(err) = commands::cancel(&ids) {
            emit(&Event::Warning {
                stage: None,
                message: format!("failed to cancel the jobs of skipped nodes: {err}"),
            });
        }
        for index in doomed {
            self.forget_job(index);
        }
    }

    /// Ctrl-C, or a failure without `--keep-going`: `scancel` every job of this run.
    fn cancel_all(&mut self, emit: &mut dyn FnMut(&Event)) {
        let ids: Vec<String> = self.active.values().map(|a| a.job.clone()).collect();
        if let Err(err) = commands::cancel(&ids) {
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
                let ms = millis(job.submitted.elapsed());
                let message = format!("cancelled (job {} cancelled with scancel)", job.job);
                let log = Some(job.log.display().to_string());
                self.finish(
                    index,
                    NodeStatus::Failed,
                    None,
                    ms,
                    Some(message),
                    log,
                    emit,
                );
            }
        }
        self.save_jobs(emit);
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

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        index: NodeIndex,
        status: NodeStatus,
        key: Option<String>,
        duration_ms: u64,
        message: Option<String>,
        log: Option<String>,
        emit: &mut dyn FnMut(&Event),
    ) {
        let node = self.engine.graph.node(index);
        emit(&Event::NodeFinished {
            stage: node.name.clone(),
            group: node.stage.clone(),
            status,
            key,
            duration_ms,
            message,
            log,
            attempts: None,
        });
        self.finished.insert(index, status);
        self.summary.count(status);
    }

    /// Sleeps, waking early on Ctrl-C.
    fn sleep(&self, total: Duration) {
        let deadline = Instant::now() + total;
        while Instant::now() < deadline && !self.engine.cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50).min(total));
        }
    }
}

/// blake3 of the pipeline file and augflow.toml: what a job was submitted for.
fn pipeline_fingerprint(engine: &Engine<'_>) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(engine.graph.pipeline.source.as_bytes());
    let config = engine.project.root.join(crate::project::CONFIG_FILE);
    if let Ok(bytes) = std::fs::read(config) {
        hasher.update(b"\0augflow.toml\0");
        hasher.update(&bytes);
    }
    hasher.finalize().to_hex().to_string()
}

fn backend_name(backend: crate::kinds::BackendRequest) -> &'static str {
    match backend {
        crate::kinds::BackendRequest::Auto => "auto",
        crate::kinds::BackendRequest::Cuda => "cuda",
        crate::kinds::BackendRequest::Wgpu => "wgpu",
        crate::kinds::BackendRequest::Cpu => "cpu",
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
