//! The job side: `augflow exec-node` runs one node inside a Slurm job. It first checks its
//! inputs (each ancestor's result must be in the store, and the workspace copies of their
//! outputs must hash to the recorded digests, restored from the store where they do not),
//! then processes the node as a local run would: key → lookup → lock → execute → publish.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use augflow_cache::Artifact;
use petgraph::graph::NodeIndex;

use super::state::{JobResult, RESULT_FORMAT, result_path};
use crate::runner::engine::Engine;
use crate::runner::gpus::Placement;
use crate::runner::node_error::NodeError;
use crate::runner::process::{NodeDone, process_node_placed, restore_node};

/// Runs the node as its `attempt`-th job (the runner submits a job lost with its machine
/// again) and writes its `JobResult` for the runner (also when it fails).
pub fn exec_node(
    engine: &Engine<'_>,
    index: NodeIndex,
    attempt: u32,
) -> Result<JobResult, NodeError> {
    exec_node_as(engine, index, job_id(), attempt)
}

/// The id the runner knows this job by: `<array job>_<task>` for a task of a job array
/// (whose `SLURM_JOB_ID` is a number of its own), else `SLURM_JOB_ID`.
fn job_id() -> Option<String> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

/// [`exec_node`] as the job `job`.
pub(super) fn exec_node_as(
    engine: &Engine<'_>,
    index: NodeIndex,
    job: Option<String>,
    attempt: u32,
) -> Result<JobResult, NodeError> {
    let started = Instant::now();
    let node = engine.graph.node(index);
    // The attempt goes into the entry's metadata, as a local run's retries do.
    let placement = Placement {
        attempt: attempt.max(1),
        ..Placement::default()
    };
    let outcome = verify_inputs(engine, index).and_then(|produced| {
        process_node_placed(
            engine,
            node,
            &placement,
            |name| produced.get(name),
            &|_| {}, // progress stays in the job's log; the runner sees states only
        )
    });
    let result = job_result(&outcome, started, job);
    let path = result_path(engine.project, &node.name);
    crate::fsutil::write_json_atomic(&path, &result)
        .map_err(|source| NodeError::io("write the job result", &path, source))?;
    outcome.map(|_| result)
}

/// The outputs of every ancestor, each restored and verified from the store.
fn verify_inputs(
    engine: &Engine<'_>,
    index: NodeIndex,
) -> Result<HashMap<String, BTreeMap<String, Artifact>>, NodeError> {
    let mut produced: HashMap<String, BTreeMap<String, Artifact>> = HashMap::new();
    for ancestor in engine.graph.with_ancestors(&[index]) {
        if ancestor == index {
            continue;
        }
        let node = engine.graph.node(ancestor);
        match restore_node(engine, node, |name| produced.get(name)) {
            Ok(done) => {
                produced.insert(node.name.clone(), done.outputs);
            }
            Err(NodeError::NotCached) => {
                return Err(NodeError::InputNotReady {
                    node: node.name.clone(),
                });
            }
            Err(err) => return Err(err),
        }
    }
    Ok(produced)
}

fn job_result(
    outcome: &Result<NodeDone, NodeError>,
    started: Instant,
    job: Option<String>,
) -> JobResult {
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(done) => JobResult {
            format: RESULT_FORMAT,
            job,
            status: Some(done.status),
            key: Some(done.key.to_hex()),
            duration_ms,
            warnings: done.warnings.clone(),
            error: None,
        },
        Err(err) => JobResult {
            format: RESULT_FORMAT,
            job,
            status: None,
            key: None,
            duration_ms,
            warnings: Vec::new(),
            error: Some(err.chain()),
        },
    }
}
