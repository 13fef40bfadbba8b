//! The executor's state machine against the in-memory cluster of `fake.rs`: shell stages
//! really run (through `exec_node`, as a job would), Slurm is simulated.

use std::collections::BTreeMap;

use augflow_cache::Store;

use super::exec::exec_node_as;
use super::fake::{FakeCluster, RunJob};
use super::state::{JOBS_FORMAT, JobRecord, JobsFile, write_jobs};
use super::submit::pipeline_fingerprint;
use super::{jobs_path, run_slurm_with};
use crate::graph::{PipelineGraph, build};
use crate::kinds::Registry;
use crate::project::Project;
use crate::runner::engine::Engine;
use crate::runner::events::{Event, NodeStatus, RunSummary};
use crate::spec::parse_file;

pub(super) const CONFIG: &str = "[executor.slurm]\npoll_seconds = 0\n";

/// A project on disk with its graph and store.
pub(super) struct Harness {
    dir: tempfile::TempDir,
    graph: PipelineGraph,
    project: Project,
    store: Store,
    registry: Registry,
}

impl Harness {
    pub(super) fn new(pipeline: &str, config: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("augflow.yaml");
        std::fs::write(&file, pipeline).unwrap();
        std::fs::write(dir.path().join("augflow.toml"), config).unwrap();
        let registry = Registry::builtin();
        let graph = build(parse_file(&file).unwrap(), &registry).unwrap();
        let store_dir = dir.path().join("store");
        let project = Project::open(dir.path(), Some(&store_dir)).unwrap();
        let store = Store::open(&project.store_dir).unwrap();
        Harness {
            dir,
            graph,
            project,
            store,
            registry,
        }
    }

    pub(super) fn engine(&self) -> Engine<'_> {
        Engine::new(
            &self.graph,
            &self.project,
            &self.store,
            &self.registry,
            Default::default(),
        )
    }

    pub(super) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_default()
    }
}

/// Jobs run their node as `augflow exec-node` would, inside this process.
pub(super) fn run_nodes<'r>(engine: &'r Engine<'_>) -> RunJob<'r> {
    Box::new(move |node, job, argv| {
        let attempt = argv
            .iter()
            .position(|arg| arg == "--attempt")
            .and_then(|i| argv.get(i + 1)?.parse().ok())
            .unwrap_or(1);
        engine
            .graph
            .find(node)
            .is_some_and(|index| exec_node_as(engine, index, Some(job.to_owned()), attempt).is_ok())
    })
}

pub(super) fn run(
    engine: &Engine<'_>,
    fake: &FakeCluster<'_>,
    keep_going: bool,
) -> (RunSummary, Vec<Event>) {
    let mut events = Vec::new();
    let summary = run_slurm_with(engine, fake, &engine.graph.order, keep_going, &mut |e| {
        events.push(e.clone());
    });
    (summary, events)
}

/// Node → how it ended.
pub(super) fn statuses(events: &[Event]) -> BTreeMap<String, NodeStatus> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::NodeFinished { stage, status, .. } => Some((stage.clone(), *status)),
            _ => None,
        })
        .collect()
}

fn all(status: NodeStatus, nodes: &[&str]) -> BTreeMap<String, NodeStatus> {
    nodes.iter().map(|n| ((*n).to_owned(), status)).collect()
}

/// (node, adopted) of every `node_submitted` event, in order.
pub(super) fn submissions(events: &[Event]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::NodeSubmitted { stage, adopted, .. } => Some((stage.clone(), *adopted)),
            _ => None,
        })
        .collect()
}

/// `bad` fails (exit 3); `after_bad` and `after_after` depend on it, `ok1` and `ok2` do not.
const FAILING: &str = include_str!("../../../tests/it/fixtures/slurm_failing.yaml");

#[test]
fn a_failed_job_cancels_its_dependents_and_the_rest_completes() {
    let h = Harness::new(FAILING, CONFIG);
    let engine = h.engine();
    let fake = FakeCluster::new(1, run_nodes(&engine));
    let (summary, events) = run(&engine, &fake, true);

    let mut expected = all(NodeStatus::Executed, &["ok1", "ok2"]);
    expected.extend(all(NodeStatus::Skipped, &["after_bad", "after_after"]));
    expected.insert("bad".to_owned(), NodeStatus::Failed);
    assert_eq!(statuses(&events), expected);
    assert_eq!(
        (summary.executed, summary.failed, summary.skipped),
        (2, 1, 2)
    );
    let message = events
        .iter()
        .find_map(|event| match event {
            Event::NodeFinished { stage, message, .. } if stage == "bad" => message.clone(),
            _ => None,
        })
        .unwrap_or_default();
    assert!(message.contains("exit status 3"), "{message}");
    // The dependents' jobs were cancelled by the runner, not left pending.
    let mut doomed = fake.jobs_of("after_bad");
    doomed.extend(fake.jobs_of("after_after"));
    let cancelled = fake.cancelled();
    assert!(
        doomed.iter().all(|job| cancelled.contains(job)),
        "{doomed:?} not all in {cancelled:?}"
    );
    assert_eq!(fake.live(), Vec::<String>::new());
    assert_eq!(h.read("ok2.txt"), "1\n");
    // Without --keep-going the failure stops the run and cancels every other job.
    let h = Harness::new(FAILING, CONFIG);
    let engine = h.engine();
    let fake = FakeCluster::new(1, run_nodes(&engine));
    let (summary, _) = run(&engine, &fake, false);
    assert_eq!(summary.failed, 1);
    assert_eq!(fake.live(), Vec::<String>::new());
    assert!(!summary.interrupted);
}

/// Each stage appends its name to runs.log, so a node executed twice shows.
const CHAIN: &str = r#"
stages:
  s1:
    cmd: "echo s1 >> runs.log && echo 1 > s1.txt"
    outs: [s1.txt]
  s2:
    cmd: "echo s2 >> runs.log && cat s1.txt > s2.txt"
    deps: [s1.txt]
    outs: [s2.txt]
  side:
    cmd: "echo side >> runs.log && echo x > side.txt"
    outs: [side.txt]
"#;

#[test]
fn a_restarted_runner_adopts_queued_jobs_and_replaces_outdated_ones() {
    let h = Harness::new(CHAIN, CONFIG);
    let engine = h.engine();
    let fake = FakeCluster::new(2, run_nodes(&engine));
    // An earlier runner submitted s1 for this pipeline, and side for an older version.
    let s1_job = fake.preload("s1");
    let side_job = fake.preload("side");
    let record = |job: &str, pipeline: String| JobRecord {
        job: job.to_owned(),
        pipeline,
        log: h.dir.path().join("old.log"),
        submitted_unix: 0,
    };
    let mut jobs = JobsFile {
        format: JOBS_FORMAT,
        nodes: BTreeMap::new(),
    };
    jobs.nodes.insert(
        "s1".to_owned(),
        record(&s1_job, pipeline_fingerprint(&engine)),
    );
    jobs.nodes
        .insert("side".to_owned(), record(&side_job, "older".to_owned()));
    write_jobs(&jobs_path(&h.project), &jobs).unwrap();

    let (summary, events) = run(&engine, &fake, false);
    assert_eq!(
        statuses(&events),
        all(NodeStatus::Executed, &["s1", "s2", "side"])
    );
    assert_eq!(summary.executed, 3);
    assert_eq!(
        submissions(&events),
        [
            ("s1".to_owned(), true),
            ("s2".to_owned(), false),
            ("side".to_owned(), false)
        ]
    );
    assert_eq!(fake.submitted(), ["s2", "side"]);
    assert_eq!(fake.cancelled(), [side_job]);
    let log = h.read("runs.log");
    let mut runs: Vec<&str> = log.lines().collect();
    runs.sort_unstable();
    assert_eq!(runs, ["s1", "s2", "side"]);
    // Finished nodes leave jobs.json.
    let left = std::fs::read_to_string(jobs_path(&h.project)).unwrap();
    assert!(!left.contains("\"s1\""), "{left}");
}

const INTERRUPTED: &str = r#"
stages:
  slow:
    cmd: "sleep 30 > slow.txt"
    outs: [slow.txt]
  after:
    cmd: "cat slow.txt > after.txt"
    deps: [slow.txt]
    outs: [after.txt]
  other:
    cmd: "sleep 30 > other.txt"
    outs: [other.txt]
"#;

#[test]
fn ctrl_c_cancels_every_job_the_run_has_queued_or_running() {
    let h = Harness::new(INTERRUPTED, CONFIG);
    let engine = h.engine();
    let fake = FakeCluster::new(1, run_nodes(&engine));
    fake.hold("slow");
    fake.hold("other");
    fake.interrupt_when_running("slow", engine.cancel.clone());
    let (summary, events) = run(&engine, &fake, false);

    assert!(summary.interrupted);
    let mut expected = all(NodeStatus::Skipped, &["after", "other"]);
    expected.insert("slow".to_owned(), NodeStatus::Failed);
    assert_eq!(statuses(&events), expected);
    let mut every: Vec<String> = ["slow", "after", "other"]
        .iter()
        .flat_map(|node| fake.jobs_of(node))
        .collect();
    every.sort();
    let mut cancelled = fake.cancelled();
    cancelled.sort();
    assert_eq!(cancelled, every);
    assert_eq!(fake.live(), Vec::<String>::new());
}

const LOST: &str = r#"
stages:
  lost:
    cmd: "echo lost >> runs.log && echo 1 > lost.txt"
    outs: [lost.txt]
  next:
    cmd: "cat lost.txt > next.txt"
    deps: [lost.txt]
    outs: [next.txt]
"#;

#[test]
fn with_retries_slurm_requeues_a_job_lost_with_its_node_in_place() {
    let h = Harness::new(LOST, CONFIG);
    let mut engine = h.engine();
    engine.retries = 1;
    let fake = FakeCluster::new(1, run_nodes(&engine));
    fake.script("lost", &["NODE_FAIL"]);
    let (summary, events) = run(&engine, &fake, false);
    assert_eq!(
        statuses(&events),
        all(NodeStatus::Executed, &["lost", "next"])
    );
    assert_eq!(summary.executed, 2);
    // Same job, requeued by Slurm (`--requeue`): nothing submitted twice.
    assert_eq!(fake.submitted(), ["lost", "next"]);
    assert_eq!(h.read("runs.log"), "lost\n");
    // Without retries, the lost job fails its node.
    let h = Harness::new(LOST, CONFIG);
    let engine = h.engine();
    let fake = FakeCluster::new(1, run_nodes(&engine));
    fake.script("lost", &["NODE_FAIL"]);
    let (_, events) = run(&engine, &fake, false);
    let mut expected = all(NodeStatus::Skipped, &["next"]);
    expected.insert("lost".to_owned(), NodeStatus::Failed);
    assert_eq!(statuses(&events), expected);
}

/// `attempts` in the metadata of the action entry the node's last job stored.
fn entry_attempts(h: &Harness, engine: &Engine<'_>, node: &str) -> Option<u64> {
    let record = crate::runner::read_record(&h.project, node)?;
    let entry = engine.store.get_action(&record.key).ok()??;
    entry.metadata.get("attempts")?.as_u64()
}

fn finished_attempts(events: &[Event], node: &str) -> Option<u32> {
    events.iter().find_map(|event| match event {
        Event::NodeFinished {
            stage, attempts, ..
        } if stage == node => *attempts,
        _ => None,
    })
}

#[test]
fn a_job_the_cluster_ends_with_node_fail_is_submitted_again_with_its_dependents() {
    let h = Harness::new(LOST, CONFIG);
    let mut engine = h.engine();
    engine.retries = 1;
    let fake = FakeCluster::new(1, run_nodes(&engine));
    fake.no_requeue();
    fake.script("lost", &["NODE_FAIL"]);
    let (summary, events) = run(&engine, &fake, false);
    assert_eq!(
        statuses(&events),
        all(NodeStatus::Executed, &["lost", "next"])
    );
    assert_eq!(summary.executed, 2);
    assert_eq!(fake.submitted(), ["lost", "next", "lost", "next"]);
    // `next` waited on the lost job: its first job was cancelled, not left pending.
    assert!(fake.cancelled().contains(&fake.jobs_of("next")[0]));
    assert_eq!(fake.live(), Vec::<String>::new());
    assert_eq!(finished_attempts(&events, "lost"), Some(2));
    assert_eq!(finished_attempts(&events, "next"), None);
    assert!(events.iter().any(|event| matches!(
        event,
        Event::NodeRetrying { stage, attempt: 2, reason } if stage == "lost" && reason.contains("NODE_FAIL")
    )));
    assert_eq!(h.read("next.txt"), "1\n");
    // The entry the second job wrote records its attempt, as a local retry's does.
    assert_eq!(entry_attempts(&h, &engine, "lost"), Some(2));
    assert_eq!(entry_attempts(&h, &engine, "next"), Some(1));

    // Retries run out: two lost jobs with one retry fail the node after 2 attempts.
    let h = Harness::new(LOST, CONFIG);
    let mut engine = h.engine();
    engine.retries = 1;
    let fake = FakeCluster::new(1, run_nodes(&engine));
    fake.no_requeue();
    fake.script("lost", &["PREEMPTED", "NODE_FAIL"]);
    let (_, events) = run(&engine, &fake, false);
    assert_eq!(statuses(&events)["lost"], NodeStatus::Failed);
    assert_eq!(finished_attempts(&events, "lost"), Some(2));

    // `run --retries` covers lost machines, not the stage's own failure.
    let h = Harness::new(LOST, CONFIG);
    let mut engine = h.engine();
    engine.retries = 3;
    let fake = FakeCluster::new(1, run_nodes(&engine));
    fake.script("lost", &["FAILED"]);
    let (_, events) = run(&engine, &fake, false);
    assert_eq!(statuses(&events)["lost"], NodeStatus::Failed);
    assert_eq!(fake.submitted(), ["lost", "next"]);
}

#[test]
fn never_more_than_max_queued_jobs_and_the_whole_grid_finishes() {
    let values: Vec<String> = (0..25).map(|i| i.to_string()).collect();
    let axis = values.join(", ");
    let pipeline = format!(
        r#"
stages:
  cell:
    matrix:
      i: [{axis}]
    cmd: "mkdir -p cells && echo ${{i}} > cells/${{i}}.txt"
    outs: ["cells/${{i}}.txt"]
  post:
    matrix:
      i: [{axis}]
    cmd: "mkdir -p posts && cat cells/${{i}}.txt > posts/${{i}}.txt"
    deps: ["cells/${{i}}.txt"]
    outs: ["posts/${{i}}.txt"]
"#
    );
    let h = Harness::new(&pipeline, &format!("{CONFIG}max_queued = 7\n"));
    let engine = h.engine();
    assert_eq!(engine.graph.order.len(), 50);
    let fake = FakeCluster::new(3, run_nodes(&engine));
    let (summary, _) = run(&engine, &fake, false);
    assert_eq!(summary.executed, 50);
    assert_eq!(fake.submitted().len(), 50);
    assert_eq!(fake.peak_queued(), 7);
    assert_eq!(h.read("posts/24.txt"), "24\n");
}

#[test]
fn max_queued_must_be_at_least_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("augflow.toml"),
        "[executor.slurm]\nmax_queued = 0\n",
    )
    .unwrap();
    let err = Project::open(dir.path(), None).unwrap_err().to_string();
    assert!(
        err.contains("augflow.toml") && err.contains("max_queued"),
        "{err}"
    );
}
