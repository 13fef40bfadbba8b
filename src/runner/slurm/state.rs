//! What survives the runner: `.augflow/slurm/jobs.json` (the job of each unfinished node, so
//! a restarted runner adopts it instead of submitting it again) and
//! `.augflow/slurm/results/<node>.json` (what `augflow exec-node` reports to the runner).
//! The store stays the source of truth for "done"; these only say which job to wait for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::project::Project;
use crate::runner::events::NodeStatus;

pub const JOBS_FORMAT: u32 = 1;
pub const RESULT_FORMAT: u32 = 1;

/// A submitted node's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job: String,
    /// blake3 of the pipeline file and augflow.toml at submission: a job is only adopted
    /// by a run of the same pipeline.
    pub pipeline: String,
    pub log: PathBuf,
    pub submitted_unix: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobsFile {
    pub format: u32,
    /// Node name → its job.
    pub nodes: BTreeMap<String, JobRecord>,
}

pub fn jobs_path(project: &Project) -> PathBuf {
    project.slurm_dir().join("jobs.json")
}

/// Absent, unreadable or of another format: no job to adopt (nodes are submitted again).
pub fn read_jobs(path: &Path) -> JobsFile {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<JobsFile>(&bytes).ok())
        .filter(|file| file.format == JOBS_FORMAT)
        .unwrap_or_default()
}

/// Atomic: a runner killed mid-write leaves the old file or the new one.
pub fn write_jobs(path: &Path, jobs: &JobsFile) -> std::io::Result<()> {
    crate::fsutil::write_json_atomic(path, jobs)
}

/// What one job did, written by `augflow exec-node` when it ends (also on failure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub format: u32,
    /// `SLURM_JOB_ID` of the job that wrote it.
    pub job: Option<String>,
    /// `executed`, `cached` or `restored`; `None` when the node failed.
    pub status: Option<NodeStatus>,
    pub key: Option<String>,
    pub duration_ms: u64,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Why the node failed, as one chain.
    pub error: Option<String>,
}

pub fn result_path(project: &Project, node: &str) -> PathBuf {
    project
        .slurm_dir()
        .join("results")
        .join(format!("{node}.json"))
}

/// The result the job `job` wrote for `node`, if any.
pub fn read_result(project: &Project, node: &str, job: &str) -> Option<JobResult> {
    let bytes = std::fs::read(result_path(project, node)).ok()?;
    let result: JobResult = serde_json::from_slice(&bytes).ok()?;
    (result.format == RESULT_FORMAT && result.job.as_deref() == Some(job)).then_some(result)
}

#[cfg(test)]
mod tests {
    use super::{
        JOBS_FORMAT, JobRecord, JobResult, JobsFile, RESULT_FORMAT, read_jobs, write_jobs,
    };
    use crate::runner::events::NodeStatus;

    #[test]
    fn jobs_file_round_trips_and_other_formats_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slurm/jobs.json");
        assert_eq!(read_jobs(&path), JobsFile::default());
        let mut jobs = JobsFile {
            format: JOBS_FORMAT,
            nodes: Default::default(),
        };
        jobs.nodes.insert(
            "train@lr=0.1".into(),
            JobRecord {
                job: "17".into(),
                pipeline: "ab".into(),
                log: "/p/.augflow/slurm/logs/train.log".into(),
                submitted_unix: 1_700_000_000,
            },
        );
        write_jobs(&path, &jobs).unwrap();
        assert_eq!(read_jobs(&path), jobs);
        std::fs::write(&path, r#"{"format": 99, "nodes": {}}"#).unwrap();
        assert_eq!(read_jobs(&path), JobsFile::default());
    }

    #[test]
    fn job_result_round_trips() {
        let result = JobResult {
            format: RESULT_FORMAT,
            job: Some("3".into()),
            status: Some(NodeStatus::Executed),
            key: Some("00ff".into()),
            duration_ms: 12,
            warnings: vec!["w".into()],
            error: None,
        };
        let text = serde_json::to_string(&result).unwrap();
        assert!(text.contains(r#""status":"executed""#), "{text}");
        assert_eq!(serde_json::from_str::<JobResult>(&text).unwrap(), result);
    }
}
