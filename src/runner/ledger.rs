//! What became of each node of one run, kept the same way by both executors: every node
//! ends through [`RunLedger::finish`] (one `node_finished` event, one count in the
//! summary), and what a failure or a stop left behind is skipped with the reason why.

use std::collections::HashMap;
use std::time::Instant;

use petgraph::graph::NodeIndex;

use super::engine::Engine;
use super::events::{Event, NodeStatus, RunSummary};

/// How one node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: NodeStatus,
    pub key: Option<String>,
    pub duration_ms: u64,
    pub message: Option<String>,
    /// The log to read for a failure (a shell stage's, or the Slurm job's).
    pub log: Option<String>,
    pub attempts: u32,
}

impl Outcome {
    pub fn new(status: NodeStatus) -> Outcome {
        Outcome {
            status,
            key: None,
            duration_ms: 0,
            message: None,
            log: None,
            attempts: 1,
        }
    }

    pub fn failed(message: String) -> Outcome {
        Outcome::new(NodeStatus::Failed).message(message)
    }

    pub fn key(mut self, key: String) -> Outcome {
        self.key = Some(key);
        self
    }

    pub fn millis(mut self, duration_ms: u64) -> Outcome {
        self.duration_ms = duration_ms;
        self
    }

    pub fn message(mut self, message: String) -> Outcome {
        self.message = Some(message);
        self
    }

    pub fn log(mut self, log: Option<String>) -> Outcome {
        self.log = log;
        self
    }

    pub fn attempts(mut self, attempts: u32) -> Outcome {
        self.attempts = attempts;
        self
    }
}

pub struct RunLedger {
    started: Instant,
    finished: HashMap<NodeIndex, NodeStatus>,
    summary: RunSummary,
}

impl Default for RunLedger {
    fn default() -> RunLedger {
        RunLedger::new()
    }
}

impl RunLedger {
    pub fn new() -> RunLedger {
        RunLedger {
            started: Instant::now(),
            finished: HashMap::new(),
            summary: RunSummary::default(),
        }
    }

    /// Records how `index` ended and reports it.
    pub fn finish(
        &mut self,
        engine: &Engine<'_>,
        index: NodeIndex,
        outcome: Outcome,
        emit: &mut dyn FnMut(&Event),
    ) {
        let node = engine.graph.node(index);
        emit(&Event::NodeFinished {
            stage: node.name.clone(),
            group: node.stage.clone(),
            status: outcome.status,
            key: outcome.key,
            duration_ms: outcome.duration_ms,
            message: outcome.message,
            log: outcome.log,
            attempts: (outcome.attempts > 1).then_some(outcome.attempts),
        });
        self.finished.insert(index, outcome.status);
        self.summary.count(outcome.status);
    }

    pub fn is_finished(&self, index: NodeIndex) -> bool {
        self.finished.contains_key(&index)
    }

    /// Whether `index` ended with its outputs available (executed, cached or restored).
    pub fn succeeded(&self, index: NodeIndex) -> bool {
        matches!(
            self.finished.get(&index),
            Some(NodeStatus::Executed | NodeStatus::Cached | NodeStatus::Restored)
        )
    }

    /// The first dependency of `index` that failed or was skipped: `index` cannot run.
    pub fn failed_dependency(&self, engine: &Engine<'_>, index: NodeIndex) -> Option<String> {
        engine
            .graph
            .dependencies(index)
            .find(|(dep, _)| {
                matches!(
                    self.finished.get(dep),
                    Some(NodeStatus::Failed | NodeStatus::Skipped)
                )
            })
            .map(|(dep, _)| engine.graph.node(dep).name.clone())
    }

    /// Ends every node of `nodes` that has not ended as skipped, saying why.
    pub fn skip_unfinished(
        &mut self,
        engine: &Engine<'_>,
        nodes: &[NodeIndex],
        emit: &mut dyn FnMut(&Event),
    ) {
        for &index in nodes {
            if self.is_finished(index) {
                continue;
            }
            self.skip(engine, index, emit);
        }
    }

    /// Ends `index` as skipped, naming the dependency that did not complete if one did not.
    pub fn skip(&mut self, engine: &Engine<'_>, index: NodeIndex, emit: &mut dyn FnMut(&Event)) {
        let reason = self.failed_dependency(engine, index).map_or_else(
            || "the run stopped before this node".to_owned(),
            |dep| format!("dependency `{dep}` did not complete"),
        );
        let outcome = Outcome::new(NodeStatus::Skipped).message(reason);
        self.finish(engine, index, outcome, emit);
    }

    /// The run's summary, with its duration and whether Ctrl-C ended it.
    pub fn into_summary(self, engine: &Engine<'_>) -> RunSummary {
        let mut summary = self.summary;
        summary.interrupted = engine.cancel.is_cancelled();
        summary.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        summary
    }
}
