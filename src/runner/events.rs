//! What the runner reports. Renderers (progress bars, plain lines, JSON lines) consume
//! these; the runner itself never prints.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// The node's command or kind ran and its outputs were stored.
    Executed,
    /// The key was found in the store; outputs were reused (restored to disk if needed).
    Cached,
    /// The key was found on the remote cache; blobs were downloaded, verified and reused.
    Restored,
    /// The node ran and failed, or its inputs could not be prepared.
    Failed,
    /// Not run: a dependency failed, or the run stopped first.
    Skipped,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Executed => "executed",
            NodeStatus::Cached => "cached",
            NodeStatus::Restored => "restored",
            NodeStatus::Failed => "failed",
            NodeStatus::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        pipeline: String,
        /// Nodes this run looks at (targets and their ancestors).
        nodes: usize,
        jobs: usize,
        /// Expected milliseconds of the nodes that will execute, from recorded durations
        /// (see `runner::estimate`); only nodes with some history are listed.
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        estimates: std::collections::BTreeMap<String, u64>,
    },
    /// A node that missed the cache was handed to Slurm as a batch job (`adopted`: the job
    /// was submitted by an earlier, interrupted run and is still queued or running).
    NodeSubmitted {
        stage: String,
        job: String,
        /// The job's output file (stdout and stderr of `augflow exec-node`).
        log: String,
        adopted: bool,
    },
    /// A node's Slurm job changed state (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`…).
    JobState {
        stage: String,
        job: String,
        state: String,
        /// Slurm's reason for a pending job (`Dependency`, `Resources`…).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A node missed the cache and starts executing.
    NodeExecuting {
        stage: String,
    },
    /// Progress inside an executing typed node (e.g. training epochs).
    NodeProgress {
        stage: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        fraction: Option<f64>,
    },
    /// A node's attempt failed in a way its retries cover; it runs again.
    NodeRetrying {
        stage: String,
        /// The attempt about to start (2 for the first retry).
        attempt: u32,
        /// Why the previous attempt failed (one line).
        reason: String,
    },
    NodeFinished {
        /// The node's name (`stage` or `stage@values` for matrix nodes).
        stage: String,
        /// The stage it was declared as in the YAML.
        group: String,
        status: NodeStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        duration_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        log: Option<String>,
        /// Attempts made, when the node was retried (absent after a single attempt).
        #[serde(skip_serializing_if = "Option::is_none")]
        attempts: Option<u32>,
    },
    Warning {
        #[serde(skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        message: String,
    },
    RunFinished(RunSummary),
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RunSummary {
    pub executed: usize,
    pub cached: usize,
    pub restored: usize,
    pub failed: usize,
    pub skipped: usize,
    pub duration_ms: u64,
    pub interrupted: bool,
}

impl RunSummary {
    pub fn count(&mut self, status: NodeStatus) {
        match status {
            NodeStatus::Executed => self.executed += 1,
            NodeStatus::Cached => self.cached += 1,
            NodeStatus::Restored => self.restored += 1,
            NodeStatus::Failed => self.failed += 1,
            NodeStatus::Skipped => self.skipped += 1,
        }
    }
}
