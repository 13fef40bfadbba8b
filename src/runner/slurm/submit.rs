//! Before any job: reuse what the store or the remote has, adopt the jobs an interrupted
//! runner left queued, and submit the rest, each with `afterok` on its inputs' jobs.

use std::collections::HashSet;
use std::time::Instant;

use petgraph::graph::NodeIndex;

use super::commands::{ArrayTask, Phase, SlurmError, Submission, array_task_id};
use super::state::{self, JobRecord};
use super::{Active, DEFAULT_ARRAY_SIZE, SlurmRun, error_chain, gres, millis};
use crate::project::SlurmResources;
use crate::runner::engine::Engine;
use crate::runner::events::Event;
use crate::runner::ledger::Outcome;
use crate::runner::node_error::NodeError;
use crate::runner::process::restore_node;

/// A node ready for submission.
struct Ready {
    index: NodeIndex,
    /// Jobs of its inputs still queued or running.
    after_ok: Vec<String>,
    resources: SlurmResources,
}

impl SlurmRun<'_, '_> {
    /// Reuses what the store or the remote has, here; returns the nodes to submit, in order.
    pub(super) fn reuse_hits(
        &mut self,
        nodes: &[NodeIndex],
        emit: &mut dyn FnMut(&Event),
    ) -> Vec<NodeIndex> {
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
                    let outcome = Outcome::new(done.status)
                        .key(done.key.to_hex())
                        .millis(millis(started.elapsed()));
                    self.finish(index, outcome, emit);
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

    /// Adopts the jobs an earlier run left queued or running for `misses`, cancels the
    /// outdated ones, and queues every other miss for submission.
    pub(super) fn adopt_or_queue(&mut self, misses: &[NodeIndex], emit: &mut dyn FnMut(&Event)) {
        if misses.is_empty() {
            return;
        }
        let recorded: Vec<String> = misses
            .iter()
            .filter_map(|&i| self.jobs.nodes.get(&self.engine.graph.node(i).name))
            .map(|record| record.job.clone())
            .collect();
        // Not knowing whether earlier jobs still run must not lead to running nodes twice.
        let live = match self.client.query(&recorded) {
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
        for &index in misses {
            let name = self.engine.graph.node(index).name.clone();
            let previous_live = self
                .jobs
                .nodes
                .get(&name)
                .filter(|record| {
                    live.get(&record.job)
                        .is_some_and(|info| matches!(info.phase(), Phase::Queued | Phase::Running))
                })
                .cloned();
            if let Some(record) = previous_live {
                // Its job waits on its inputs' old jobs: those must be adopted too.
                let inputs_adopted = self
                    .deps(index)
                    .iter()
                    .all(|dep| self.ledger.succeeded(*dep) || self.active.contains_key(dep));
                if record.pipeline == self.fingerprint && inputs_adopted {
                    self.adopt(index, record, emit);
                    continue;
                }
                // Queued for another version of the pipeline, or behind a replaced job.
                if let Err(err) = self.client.cancel(std::slice::from_ref(&record.job)) {
                    emit(&Event::Warning {
                        stage: Some(name.clone()),
                        message: format!("failed to cancel outdated job {}: {err}", record.job),
                    });
                }
            }
            self.pending.insert((self.position[&index], index));
        }
    }

    /// Submits pending nodes in topological order while fewer than `max_queued` jobs of
    /// the run are queued or running. A node waits until each input is done or has a job
    /// to name in `--dependency=afterok:`; one whose input failed is skipped. Ready nodes
    /// of one stage with the same inputs' jobs and resources go out as one job array.
    pub(super) fn submit_ready(&mut self, emit: &mut dyn FnMut(&Event)) {
        // A batch is submitted at once, so a node behind one of its nodes waits for the
        // next batch, which can name that node's job.
        loop {
            let batch = self.ready_batch(emit);
            if batch.is_empty() {
                return;
            }
            for group in self.array_groups(batch) {
                self.submit_group(group, emit);
            }
        }
    }

    /// Pending nodes whose inputs are done or queued, as many as the queue has room for.
    fn ready_batch(&mut self, emit: &mut dyn FnMut(&Event)) -> Vec<Ready> {
        let room = self.max_queued.saturating_sub(self.active.len());
        let candidates: Vec<(usize, NodeIndex)> = self.pending.iter().copied().collect();
        let mut batch = Vec::new();
        for (position, index) in candidates {
            if self.halted() || batch.len() >= room {
                break;
            }
            if self.blocked(index) {
                self.pending.remove(&(position, index));
                self.skip(index, emit);
                continue;
            }
            let deps = self.deps(index);
            if deps
                .iter()
                .any(|dep| !self.ledger.succeeded(*dep) && !self.active.contains_key(dep))
            {
                continue;
            }
            self.pending.remove(&(position, index));
            let after_ok = deps
                .iter()
                .filter_map(|dep| self.active.get(dep).map(|active| active.job.clone()))
                .collect();
            batch.push(Ready {
                index,
                after_ok,
                resources: self.resources_of(index),
            });
        }
        batch
    }

    /// The batch in submissions: siblings of a matrix stage that wait on the same jobs and
    /// ask for the same resources share one job array (one `sbatch` call), up to
    /// `array_size` tasks; every other node is a job of its own.
    fn array_groups(&self, batch: Vec<Ready>) -> Vec<Vec<Ready>> {
        let limit = self
            .config
            .array_size
            .map_or(DEFAULT_ARRAY_SIZE, std::num::NonZeroUsize::get);
        let graph = &self.engine.graph;
        let mut groups: Vec<Vec<Ready>> = Vec::new();
        for ready in batch {
            let stage = &graph.node(ready.index).stage;
            let group = groups.iter_mut().find(|group| {
                let first = &group[0];
                group.len() < limit
                    && graph.node(first.index).stage == *stage
                    && first.after_ok == ready.after_ok
                    && first.resources == ready.resources
            });
            match group {
                Some(group) => group.push(ready),
                None => groups.push(vec![ready]),
            }
        }
        groups
    }

    fn submit_group(&mut self, group: Vec<Ready>, emit: &mut dyn FnMut(&Event)) {
        let submitted = if group.len() == 1 {
            self.submit_one(&group[0]).map(|record| vec![record])
        } else {
            self.submit_array(&group)
        };
        let records = match submitted {
            Ok(records) => records,
            Err(err) => {
                for ready in &group {
                    self.fail(ready.index, error_chain(&err), 0, None, emit);
                }
                return;
            }
        };
        for (ready, record) in group.iter().zip(records) {
            let name = self.engine.graph.node(ready.index).name.clone();
            emit(&Event::NodeSubmitted {
                stage: name.clone(),
                job: record.job.clone(),
                log: record.log.display().to_string(),
                adopted: false,
            });
            self.activate(ready.index, &record);
            self.jobs.nodes.insert(name, record);
        }
        // Saved after every submission: a runner killed now still knows the jobs.
        self.jobs_dirty = true;
        self.save_jobs(emit);
    }

    fn adopt(&mut self, index: NodeIndex, record: JobRecord, emit: &mut dyn FnMut(&Event)) {
        let stage = self.engine.graph.node(index).name.clone();
        emit(&Event::NodeSubmitted {
            stage,
            job: record.job.clone(),
            log: record.log.display().to_string(),
            adopted: true,
        });
        self.activate(index, &record);
    }

    fn activate(&mut self, index: NodeIndex, record: &JobRecord) {
        self.active.insert(
            index,
            Active {
                job: record.job.clone(),
                log: record.log.clone(),
                submitted: Instant::now(),
                state: None,
                executing: false,
            },
        );
    }

    fn submit_one(&self, ready: &Ready) -> Result<JobRecord, SlurmError> {
        let node = self.engine.graph.node(ready.index);
        let log = self.prepare_log(&node.name);
        let submission = Submission {
            job_name: format!("augflow:{}", node.name),
            workdir: self.engine.project.root.clone(),
            log: log.clone(),
            after_ok: ready.after_ok.clone(),
            argv: self.job_argv(ready.index)?,
            array: Vec::new(),
        };
        let job = self.client.submit(&ready.resources, &submission)?;
        tracing::debug!(node = %node.name, %job, "submitted");
        Ok(self.record(job, log))
    }

    /// One job array for `group` (same stage, inputs' jobs and resources).
    fn submit_array(&self, group: &[Ready]) -> Result<Vec<JobRecord>, SlurmError> {
        let graph = &self.engine.graph;
        let tasks = group
            .iter()
            .map(|ready| {
                let name = &graph.node(ready.index).name;
                Ok(ArrayTask {
                    node: name.clone(),
                    argv: self.job_argv(ready.index)?,
                    log: self.prepare_log(name),
                })
            })
            .collect::<Result<Vec<ArrayTask>, SlurmError>>()?;
        let stage = &graph.node(group[0].index).stage;
        let submission = Submission {
            job_name: format!("augflow:{stage}"),
            workdir: self.engine.project.root.clone(),
            log: self.logs_dir().join(format!("{stage}@array")),
            after_ok: group[0].after_ok.clone(),
            argv: Vec::new(),
            array: tasks,
        };
        let job = self.client.submit(&group[0].resources, &submission)?;
        tracing::debug!(%stage, %job, tasks = group.len(), "submitted a job array");
        Ok(submission
            .array
            .into_iter()
            .enumerate()
            .map(|(task, run)| self.record(array_task_id(&job, task), run.log))
            .collect())
    }

    fn logs_dir(&self) -> std::path::PathBuf {
        self.engine.project.slurm_dir().join("logs")
    }

    /// The node's log path, after removing its old result: an old result must never be
    /// taken for the new job's.
    fn prepare_log(&self, node: &str) -> std::path::PathBuf {
        let _ = crate::fsutil::remove_path(&state::result_path(self.engine.project, node));
        self.logs_dir().join(format!("{node}.log"))
    }

    fn record(&self, job: String, log: std::path::PathBuf) -> JobRecord {
        JobRecord {
            job,
            pipeline: self.fingerprint.clone(),
            log,
            submitted_unix: unix_now(),
        }
    }

    /// The `[executor.slurm.resources]` entry of the node's kind, with what the stage
    /// declares and, when it may be retried, `--requeue`.
    fn resources_of(&self, index: NodeIndex) -> SlurmResources {
        let engine = self.engine;
        let node = engine.graph.node(index);
        let mut resources = self.config.resources_for(node.kind_label());
        let uses_device = crate::runner::gpus::uses_device(engine, node);
        gres::overlay_declared(&mut resources, node.resources, uses_device, engine.backend);
        // Retries on a cluster: Slurm itself requeues a job lost with its node or
        // preempted (same job id, so `afterok` dependents stay valid).
        if node.retries.unwrap_or(0).max(engine.retries) > 0 {
            resources.extra.push("--requeue".to_owned());
        }
        resources
    }

    /// `augflow [--store S] exec-node --node N --backend B [--remote R | --no-remote]
    /// [--attempt A] PIPELINE`.
    fn job_argv(&self, index: NodeIndex) -> Result<Vec<String>, SlurmError> {
        let node = &self.engine.graph.node(index).name;
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
        // A node submitted again after its job was lost: its entry records the attempt.
        if let Some(attempt) = self.attempts.get(&index).filter(|&&a| a > 1) {
            argv.extend(["--attempt".to_owned(), attempt.to_string()]);
        }
        argv.push(engine.graph.pipeline.file.display().to_string());
        Ok(argv)
    }
}

/// blake3 of the pipeline file and augflow.toml: what a job was submitted for.
pub(super) fn pipeline_fingerprint(engine: &Engine<'_>) -> String {
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
