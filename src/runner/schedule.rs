//! Topological scheduling on `jobs` worker threads. The calling thread owns all state and
//! emits every event; workers only process nodes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use augflow_cache::Artifact;
use petgraph::graph::NodeIndex;

use super::engine::Engine;
use super::events::{Event, NodeStatus, RunSummary};
use super::gpus::{Fit, GpuState, Placement};
use super::ledger::{Outcome, RunLedger};
use super::node_error::NodeError;
use super::process::{NodeDone, NodeSignal, process_node_placed};
use super::retry;
use super::shell::log_path;
use super::worker_pool::run_in_worker_pool;
use crate::kinds::Progress;

pub struct Schedule {
    pub nodes: Vec<NodeIndex>,
    /// Nodes of `nodes` that already ended as cached (`reuse::reuse_up_to_date`), in
    /// topological order: reported first, never dispatched.
    pub reused: Vec<(NodeIndex, NodeDone)>,
    pub jobs: usize,
    pub keep_going: bool,
}

enum WorkerMsg {
    Executing(NodeIndex),
    Progress(NodeIndex, Progress),
    /// The attempt failed and the node runs again as attempt `u32`.
    Retrying(NodeIndex, u32, String),
    /// Result, milliseconds, attempts made.
    Done(NodeIndex, u64, u32, Result<NodeDone, NodeError>),
}

/// A node to process and the GPUs it holds while it runs.
type Job = (NodeIndex, Vec<u32>);

/// Outputs of finished nodes, shared read-only with workers.
type Produced = Arc<Mutex<HashMap<String, Arc<BTreeMap<String, Artifact>>>>>;

pub fn run_schedule(
    engine: &Engine<'_>,
    schedule: &Schedule,
    emit: &mut dyn FnMut(&Event),
) -> RunSummary {
    let graph = engine.graph;
    let mut ledger = RunLedger::new();
    let produced: Produced = Arc::default();
    let mut reused: BTreeSet<NodeIndex> = BTreeSet::new();
    for (index, done) in &schedule.reused {
        reused.insert(*index);
        if let Ok(mut map) = produced.lock() {
            map.insert(
                graph.node(*index).name.clone(),
                Arc::new(done.outputs.clone()),
            );
        }
        let outcome = Outcome::new(done.status).key(done.key.to_hex());
        ledger.finish(engine, *index, outcome, emit);
    }
    let selected: BTreeSet<NodeIndex> = schedule
        .nodes
        .iter()
        .copied()
        .filter(|n| !reused.contains(n))
        .collect();
    let mut waiting_on: HashMap<NodeIndex, usize> = selected
        .iter()
        .map(|&n| {
            (
                n,
                graph
                    .dependencies(n)
                    .filter(|(d, _)| selected.contains(d))
                    .count(),
            )
        })
        .collect();
    let position: HashMap<NodeIndex, usize> = schedule
        .nodes
        .iter()
        .enumerate()
        .map(|(i, &n)| (n, i))
        .collect();
    // Ready nodes in topological position order, for a deterministic dispatch order.
    let mut ready: BTreeSet<(usize, NodeIndex)> = selected
        .iter()
        .filter(|n| waiting_on[n] == 0)
        .map(|&n| (position[&n], n))
        .collect();
    let mut stop = false;

    let mut gpus = GpuState::default();
    let mut held: HashMap<NodeIndex, Vec<u32>> = HashMap::new();
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (msg_tx, msg_rx) = mpsc::channel::<WorkerMsg>();

    std::thread::scope(|scope| {
        for _ in 0..schedule.jobs.max(1) {
            let job_rx = Arc::clone(&job_rx);
            let msg_tx = msg_tx.clone();
            let produced = Arc::clone(&produced);
            let jobs = schedule.jobs;
            scope.spawn(move || {
                run_in_worker_pool(jobs, || worker(engine, &job_rx, &msg_tx, &produced))
            });
        }
        drop(msg_tx);

        let mut running = 0usize;
        loop {
            stop |= engine.cancel.is_cancelled();
            while !stop && running < schedule.jobs.max(1) {
                // The first ready node (in topological order) whose GPUs are free: a GPU
                // node waiting for a device does not hold back CPU nodes behind it.
                let mut chosen = None;
                for &(pos, candidate) in &ready {
                    match gpus.fit(engine, candidate) {
                        Fit::Run(assigned) => {
                            chosen = Some((pos, candidate, Ok(assigned)));
                            break;
                        }
                        Fit::Never(message) => {
                            chosen = Some((pos, candidate, Err(message)));
                            break;
                        }
                        Fit::Wait => {}
                    }
                }
                let Some((pos, next, assigned)) = chosen else {
                    break;
                };
                ready.remove(&(pos, next));
                let assigned = match assigned {
                    Ok(assigned) => assigned,
                    Err(message) => {
                        let outcome = Outcome::failed(message).log(shell_log(engine, next));
                        ledger.finish(engine, next, outcome, emit);
                        stop |= !schedule.keep_going;
                        continue;
                    }
                };
                held.insert(next, assigned.clone());
                if job_tx.send((next, assigned)).is_err() {
                    stop = true;
                    break;
                }
                running += 1;
            }
            if running == 0 {
                break;
            }
            let Ok(msg) = msg_rx.recv() else { break };
            match msg {
                WorkerMsg::Executing(index) => emit(&Event::NodeExecuting {
                    stage: graph.node(index).name.clone(),
                }),
                WorkerMsg::Progress(index, progress) => emit(&Event::NodeProgress {
                    stage: graph.node(index).name.clone(),
                    message: progress.message,
                    fraction: progress.fraction,
                }),
                WorkerMsg::Retrying(index, attempt, reason) => emit(&Event::NodeRetrying {
                    stage: graph.node(index).name.clone(),
                    attempt,
                    reason,
                }),
                WorkerMsg::Done(index, millis, attempts, result) => {
                    running -= 1;
                    if let Some(assigned) = held.remove(&index) {
                        gpus.give_back(&assigned);
                    }
                    let node = graph.node(index);
                    let outcome = match result {
                        Ok(done) => {
                            for message in &done.warnings {
                                emit(&Event::Warning {
                                    stage: Some(node.name.clone()),
                                    message: message.clone(),
                                });
                            }
                            if let Ok(mut map) = produced.lock() {
                                map.insert(node.name.clone(), Arc::new(done.outputs));
                            }
                            for dependent in graph.dependents(index) {
                                if let Some(count) = waiting_on.get_mut(&dependent) {
                                    *count -= 1;
                                    if *count == 0 {
                                        ready.insert((position[&dependent], dependent));
                                    }
                                }
                            }
                            Outcome::new(done.status).key(done.key.to_hex())
                        }
                        // `pull`: nothing to restore is not a failure of the node.
                        Err(NodeError::NotCached) => Outcome::new(NodeStatus::Skipped)
                            .message("not in the local store nor on the remote".to_owned()),
                        Err(err) => {
                            if !matches!(err, NodeError::Cancelled) && !schedule.keep_going {
                                stop = true;
                            }
                            let message = if matches!(err, NodeError::Cancelled) {
                                "cancelled".to_owned()
                            } else {
                                err.chain()
                            };
                            Outcome::failed(message).log(shell_log(engine, index))
                        }
                    };
                    let outcome = outcome.millis(millis).attempts(attempts);
                    ledger.finish(engine, index, outcome, emit);
                }
            }
        }
        drop(job_tx);
    });

    ledger.skip_unfinished(engine, &schedule.nodes, emit);
    ledger.into_summary(engine)
}

fn worker(
    engine: &Engine<'_>,
    jobs: &Mutex<mpsc::Receiver<Job>>,
    messages: &mpsc::Sender<WorkerMsg>,
    produced: &Produced,
) {
    loop {
        let next = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((index, assigned)) = next else { return };
        let started = Instant::now();
        let node = engine.graph.node(index);
        let snapshot: HashMap<String, Arc<BTreeMap<String, Artifact>>> = match produced.lock() {
            Ok(map) => engine
                .graph
                .dependencies(index)
                .filter_map(|(dep, _)| {
                    let name = &engine.graph.node(dep).name;
                    map.get(name)
                        .map(|outputs| (name.clone(), Arc::clone(outputs)))
                })
                .collect(),
            Err(_) => HashMap::new(),
        };
        let mut placement = Placement {
            gpus: assigned,
            attempt: 1,
        };
        let result = loop {
            if engine.cancel.is_cancelled() {
                break Err(NodeError::Cancelled);
            }
            let result = process_node_placed(
                engine,
                node,
                &placement,
                |name| snapshot.get(name).map(|outputs| outputs.as_ref()),
                &|signal| {
                    let _ = messages.send(match signal {
                        NodeSignal::Executing => WorkerMsg::Executing(index),
                        NodeSignal::Progress(progress) => WorkerMsg::Progress(index, progress),
                    });
                },
            );
            let Err(err) = &result else { break result };
            let Some(cause) = retry::classify(err) else {
                break result;
            };
            if placement.attempt >= retry::allowed_attempts(node, engine.retries, &cause)
                || engine.cancel.is_cancelled()
            {
                break result;
            }
            placement.attempt += 1;
            tracing::info!(node = %node.name, attempt = placement.attempt, "retrying after: {}", err.chain());
            let _ = messages.send(WorkerMsg::Retrying(
                index,
                placement.attempt,
                cause.describe().to_owned(),
            ));
        };
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if messages
            .send(WorkerMsg::Done(index, millis, placement.attempt, result))
            .is_err()
        {
            return;
        }
    }
}

/// A failed shell node's log, for its `node_finished` event.
fn shell_log(engine: &Engine<'_>, index: NodeIndex) -> Option<String> {
    let node = engine.graph.node(index);
    matches!(node.action, crate::spec::Action::Shell(_))
        .then(|| log_path(engine, &node.name).display().to_string())
}
