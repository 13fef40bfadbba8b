//! `push` and `pull` of a pipeline's results: the upload loop over the selected nodes, and a
//! pull as a run that restores and never executes.

use augflow_cache::remote::{BrokenEntry, PushOptions, TransferError, push_action_with};
use petgraph::graph::NodeIndex;

use super::engine::Engine;
use super::events::{Event, RunSummary};
use super::plan::{NodeState, plan};
use super::remote::RemoteLink;
use super::{ExecutorKind, RunOptions, run, selected_nodes};

/// What a push did, counted over the selected nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Nodes whose entry the remote did not have.
    pub pushed: usize,
    /// Nodes whose entry the remote already had.
    pub present: usize,
    /// Nodes not in the local store (never computed, or stale).
    pub missing: usize,
    /// Broken remote entries replaced by this store's (repair, or a signed remote).
    pub repaired: usize,
    /// Broken remote entries left alone.
    pub broken: usize,
    pub blobs: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("push `{stage}` to remote `{remote}`: {reason}")]
pub struct PushError {
    pub stage: String,
    pub remote: String,
    /// Boxed: a transfer error is large, and the common result is `Ok`.
    pub reason: Box<TransferError>,
}

/// Uploads every selected node (`targets` and their ancestors; all when empty) that is in
/// the local store under its current key. With `repair`, broken remote entries are replaced
/// by this store's. Stops at the first failed upload.
pub fn push(
    engine: &Engine<'_>,
    link: &RemoteLink,
    targets: &[NodeIndex],
    repair: bool,
) -> Result<PushReport, PushError> {
    let options = PushOptions {
        broken: if repair {
            BrokenEntry::Replace
        } else {
            BrokenEntry::ReplaceIfTrusted
        },
        ..PushOptions::new(link.parallel)
    };
    let mut report = PushReport::default();
    for node_plan in plan(engine, &selected_nodes(engine, targets)) {
        let entry = match (&node_plan.state, node_plan.key_digest) {
            (NodeState::UpToDate | NodeState::Restore, Some(key)) => engine
                .store
                .get_action(&key)
                .ok()
                .flatten()
                .map(|entry| (key, entry)),
            _ => None,
        };
        let Some((key, entry)) = entry else {
            report.missing += 1;
            continue;
        };
        let outcome = push_action_with(link.remote.as_ref(), engine.store, &key, &entry, &options)
            .map_err(|reason| PushError {
                stage: node_plan.stage.clone(),
                remote: link.name.clone(),
                reason: Box::new(reason),
            })?;
        if outcome.entry_created {
            report.pushed += 1;
        } else if outcome.entry_repaired {
            report.repaired += 1;
        } else if outcome.remote_entry_broken {
            report.broken += 1;
        } else {
            report.present += 1;
        }
        report.blobs += outcome.blobs_uploaded;
        report.bytes += outcome.bytes_uploaded;
    }
    Ok(report)
}

/// A run that brings the selected nodes up to date from the local store or `link` only:
/// nothing executes, and what is in neither is reported skipped. `jobs` nodes restore at
/// once; one that fails never stops the others.
pub fn pull(
    mut engine: Engine<'_>,
    link: RemoteLink,
    targets: Vec<NodeIndex>,
    jobs: usize,
    emit: &mut dyn FnMut(&Event),
) -> RunSummary {
    engine.remote = Some(link);
    engine.execute = false;
    let options = RunOptions {
        targets,
        jobs,
        keep_going: true,
        executor: ExecutorKind::Local,
    };
    run(&engine, &options, emit)
}
