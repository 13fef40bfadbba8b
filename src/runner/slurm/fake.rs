//! An in-memory Slurm cluster for the executor's unit tests: no root, no Slurm.
//!
//! Time advances one step per `query` (one poll of the runner): first the jobs that were
//! running end (the node runs through `run_job`, or ends as scripted), then pending jobs
//! whose `afterok` jobs all completed start, `slots` at a time. A job whose dependency
//! failed stays pending with `DependencyNeverSatisfied`, as on a cluster that ignores
//! `--kill-on-invalid-dep`: only the runner's own `scancel` removes it, so the tests see
//! what the runner does.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};

use super::client::SlurmClient;
use super::commands::{JobInfo, SlurmError, Submission, array_task_id};
use crate::project::SlurmResources;
use crate::runner::cancel::CancelToken;

/// Runs a node's job (node, job id, the job's command): `true` when it succeeded.
pub type RunJob<'r> = Box<dyn Fn(&str, &str, &[String]) -> bool + 'r>;

pub struct FakeCluster<'r> {
    run_job: RunJob<'r>,
    state: RefCell<FakeState>,
}

#[derive(Default)]
struct FakeState {
    next_id: u64,
    slots: usize,
    /// Jobs in submission order (array tasks in task order), each with its Slurm id.
    jobs: Vec<FakeJob>,
    /// Node of each job submitted, in order (every task of an array).
    submitted: Vec<String>,
    /// `sbatch` calls (an array is one).
    sbatch_calls: usize,
    /// Every job id the client asked to cancel.
    cancelled: Vec<String>,
    peak_queued: usize,
    /// Node → end states forced on its next jobs (`NODE_FAIL`…), one per job.
    scripted: HashMap<String, VecDeque<&'static str>>,
    /// Nodes whose jobs run until cancelled.
    held: Vec<String>,
    /// Ctrl-C arrives once this node's job is running.
    interrupt: Option<(String, CancelToken)>,
    /// `--requeue` is ignored, as on a cluster where requeueing is off.
    no_requeue: bool,
}

struct FakeJob {
    /// `12`, or `12_3` for task 3 of array job 12.
    id: String,
    node: String,
    /// The command the job runs (`augflow exec-node …`).
    argv: Vec<String>,
    after_ok: Vec<String>,
    state: &'static str,
    reason: Option<String>,
    requeue: bool,
}

const LIVE: [&str; 2] = ["PENDING", "RUNNING"];

impl<'r> FakeCluster<'r> {
    pub fn new(slots: usize, run_job: RunJob<'r>) -> FakeCluster<'r> {
        FakeCluster {
            run_job,
            state: RefCell::new(FakeState {
                next_id: 100,
                slots,
                ..FakeState::default()
            }),
        }
    }

    /// The next jobs of `node` end in these states instead of running it.
    pub fn script(&self, node: &str, ends: &[&'static str]) {
        let mut state = self.state.borrow_mut();
        let queue = state.scripted.entry(node.to_owned()).or_default();
        queue.extend(ends);
    }

    pub fn no_requeue(&self) {
        self.state.borrow_mut().no_requeue = true;
    }

    pub fn hold(&self, node: &str) {
        self.state.borrow_mut().held.push(node.to_owned());
    }

    pub fn interrupt_when_running(&self, node: &str, token: CancelToken) {
        self.state.borrow_mut().interrupt = Some((node.to_owned(), token));
    }

    /// A job queued by an earlier runner (not counted as a submission).
    pub fn preload(&self, node: &str) -> String {
        let mut state = self.state.borrow_mut();
        let id = state.new_id();
        state.add(id, node, Vec::new(), Vec::new(), false)
    }

    pub fn submitted(&self) -> Vec<String> {
        self.state.borrow().submitted.clone()
    }

    pub fn sbatch_calls(&self) -> usize {
        self.state.borrow().sbatch_calls
    }

    pub fn cancelled(&self) -> Vec<String> {
        self.state.borrow().cancelled.clone()
    }

    /// The most jobs pending or running at once.
    pub fn peak_queued(&self) -> usize {
        self.state.borrow().peak_queued
    }

    /// Nodes whose jobs are still pending or running.
    pub fn live(&self) -> Vec<String> {
        let state = self.state.borrow();
        state
            .jobs
            .iter()
            .filter(|job| LIVE.contains(&job.state))
            .map(|job| job.node.clone())
            .collect()
    }

    /// Job ids of a node, oldest first.
    pub fn jobs_of(&self, node: &str) -> Vec<String> {
        let state = self.state.borrow();
        state
            .jobs
            .iter()
            .filter(|job| job.node == node)
            .map(|job| job.id.clone())
            .collect()
    }

    fn step(&self) {
        let ending: Vec<(String, String, Vec<String>)> = {
            let state = self.state.borrow();
            state
                .jobs
                .iter()
                .filter(|job| job.state == "RUNNING" && !state.held.contains(&job.node))
                .map(|job| (job.id.clone(), job.node.clone(), job.argv.clone()))
                .collect()
        };
        for (id, node, argv) in ending {
            let scripted = self
                .state
                .borrow_mut()
                .scripted
                .get_mut(&node)
                .and_then(VecDeque::pop_front);
            let (end, reason) = match scripted {
                Some(end) => (end, None),
                None if (self.run_job)(&node, &id, &argv) => ("COMPLETED", None),
                None => ("FAILED", Some("NonZeroExitCode".to_owned())),
            };
            let mut state = self.state.borrow_mut();
            let no_requeue = state.no_requeue;
            let Some(job) = state.job_mut(&id) else {
                continue;
            };
            if job.requeue && !no_requeue && matches!(end, "NODE_FAIL" | "PREEMPTED") {
                // Slurm requeues it in place: same id, dependents stay valid.
                job.state = "PENDING";
                job.reason = Some("BeginTime".to_owned());
            } else {
                job.state = end;
                job.reason = reason;
            }
        }
        let mut state = self.state.borrow_mut();
        let ends: HashMap<String, &'static str> = state
            .jobs
            .iter()
            .map(|job| (job.id.clone(), job.state))
            .collect();
        let mut running = state
            .jobs
            .iter()
            .filter(|job| job.state == "RUNNING")
            .count();
        let slots = state.slots;
        for job in &mut state.jobs {
            if job.state != "PENDING" {
                continue;
            }
            let deps: Vec<&str> = job.after_ok.iter().map(|d| ends[d]).collect();
            if deps.iter().any(|s| !LIVE.contains(s) && *s != "COMPLETED") {
                job.reason = Some("DependencyNeverSatisfied".to_owned());
            } else if deps.iter().any(|s| LIVE.contains(s)) {
                job.reason = Some("Dependency".to_owned());
            } else if running < slots {
                job.state = "RUNNING";
                job.reason = None;
                running += 1;
            } else {
                job.reason = Some("Resources".to_owned());
            }
        }
        let interrupt = state.interrupt.clone();
        if let Some((node, token)) = interrupt
            && state
                .jobs
                .iter()
                .any(|job| job.node == node && job.state == "RUNNING")
        {
            token.cancel();
        }
    }
}

impl FakeState {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn add(
        &mut self,
        id: String,
        node: &str,
        argv: Vec<String>,
        after_ok: Vec<String>,
        requeue: bool,
    ) -> String {
        self.jobs.push(FakeJob {
            id: id.clone(),
            node: node.to_owned(),
            argv,
            after_ok,
            state: "PENDING",
            reason: None,
            requeue,
        });
        let queued = self
            .jobs
            .iter()
            .filter(|job| LIVE.contains(&job.state))
            .count();
        self.peak_queued = self.peak_queued.max(queued);
        id
    }

    fn job(&self, id: &str) -> Option<&FakeJob> {
        self.jobs.iter().find(|job| job.id == id)
    }

    fn job_mut(&mut self, id: &str) -> Option<&mut FakeJob> {
        self.jobs.iter_mut().find(|job| job.id == id)
    }
}

impl SlurmClient for FakeCluster<'_> {
    fn submit(
        &self,
        resources: &SlurmResources,
        submission: &Submission,
    ) -> Result<String, SlurmError> {
        let node = submission
            .job_name
            .strip_prefix("augflow:")
            .unwrap_or(&submission.job_name);
        let mut state = self.state.borrow_mut();
        if let Some(unknown) = submission
            .after_ok
            .iter()
            .find(|dep| state.job(dep).is_none())
        {
            return Err(SlurmError::Submit {
                stderr: format!("Job dependency problem: unknown job {unknown}"),
            });
        }
        state.sbatch_calls += 1;
        let requeue = resources.extra.iter().any(|arg| arg == "--requeue");
        let id = state.new_id();
        if submission.array.is_empty() {
            state.submitted.push(node.to_owned());
            let argv = submission.argv.clone();
            return Ok(state.add(id, node, argv, submission.after_ok.clone(), requeue));
        }
        for (task, run) in submission.array.iter().enumerate() {
            state.submitted.push(run.node.clone());
            let task_id = array_task_id(&id, task);
            let argv = run.argv.clone();
            state.add(
                task_id,
                &run.node,
                argv,
                submission.after_ok.clone(),
                requeue,
            );
        }
        Ok(id)
    }

    fn query(&self, ids: &[String]) -> Result<BTreeMap<String, JobInfo>, SlurmError> {
        self.step();
        let state = self.state.borrow();
        Ok(ids
            .iter()
            .filter_map(|id| {
                let job = state.job(id)?;
                Some((
                    id.clone(),
                    JobInfo {
                        state: job.state.to_owned(),
                        reason: job.reason.clone(),
                    },
                ))
            })
            .collect())
    }

    fn cancel(&self, ids: &[String]) -> Result<(), SlurmError> {
        let mut state = self.state.borrow_mut();
        for id in ids {
            state.cancelled.push(id.clone());
            if let Some(job) = state.job_mut(id)
                && LIVE.contains(&job.state)
            {
                job.state = "CANCELLED";
            }
        }
        Ok(())
    }
}
