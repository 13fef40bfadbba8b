//! Snapshots of the plain and JSON renderers: a fixed run's events in, the whole text out.
//! Every expected line is written by hand from the output formats (docs and the event
//! enum), never produced by the renderers.

use std::collections::BTreeMap;

use super::{JsonRenderer, OnlyChanges, PlainRenderer, Renderer};
use crate::runner::{Event, NodeStatus, RunSummary};

fn finished(stage: &str, status: NodeStatus, duration_ms: u64) -> Event {
    finished_with(stage, status, duration_ms, None, None)
}

fn finished_with(
    stage: &str,
    status: NodeStatus,
    duration_ms: u64,
    message: Option<&str>,
    log: Option<&str>,
) -> Event {
    Event::NodeFinished {
        stage: stage.to_owned(),
        group: stage.split('@').next().unwrap_or(stage).to_owned(),
        status,
        key: None,
        duration_ms,
        message: message.map(str::to_owned),
        log: log.map(str::to_owned),
        attempts: None,
    }
}

/// One event of each kind, in the order a Slurm run with a retry, a failure and Ctrl-C
/// would emit them.
fn run_events() -> Vec<Event> {
    vec![
        Event::RunStarted {
            pipeline: "study/augflow.yaml".into(),
            nodes: 4,
            jobs: 2,
            estimates: BTreeMap::from([("train".into(), 75_000), ("eval".into(), 5_000)]),
        },
        Event::NodeSubmitted {
            stage: "train".into(),
            job: "4242".into(),
            log: "logs/train.out".into(),
            adopted: false,
        },
        Event::NodeSubmitted {
            stage: "eval".into(),
            job: "4243".into(),
            log: "logs/eval.out".into(),
            adopted: true,
        },
        Event::JobState {
            stage: "train".into(),
            job: "4242".into(),
            state: "PENDING".into(),
            reason: Some("Resources".into()),
        },
        Event::JobState {
            stage: "train".into(),
            job: "4242".into(),
            state: "RUNNING".into(),
            reason: None,
        },
        finished("data", NodeStatus::Cached, 3),
        Event::NodeExecuting {
            stage: "train".into(),
        },
        Event::NodeProgress {
            stage: "train".into(),
            message: "epoch 1/2".into(),
            fraction: Some(0.5),
        },
        Event::NodeRetrying {
            stage: "train".into(),
            attempt: 2,
            reason: "killed by SIGKILL".into(),
        },
        Event::NodeFinished {
            stage: "train".into(),
            group: "train".into(),
            status: NodeStatus::Executed,
            key: Some("ab12".into()),
            duration_ms: 1234,
            message: None,
            log: None,
            attempts: Some(2),
        },
        finished_with(
            "eval",
            NodeStatus::Failed,
            20,
            Some("exit status 1"),
            Some(".augflow/logs/eval.log"),
        ),
        Event::Warning {
            stage: Some("eval".into()),
            message: "low disk".into(),
        },
        Event::Warning {
            stage: None,
            message: "remote down".into(),
        },
        finished_with(
            "report@a=1",
            NodeStatus::Skipped,
            0,
            Some("`eval` failed"),
            None,
        ),
        Event::RunFinished(RunSummary {
            executed: 1,
            cached: 1,
            restored: 0,
            failed: 1,
            skipped: 1,
            duration_ms: 61_500,
            interrupted: true,
        }),
    ]
}

fn render(renderer: &mut dyn Renderer, events: &[Event]) {
    for event in events {
        renderer.handle(event);
    }
}

#[test]
fn plain_lines_of_a_run() {
    let mut plain = PlainRenderer { out: Vec::new() };
    render(&mut plain, &run_events());
    let expected = "\
augflow: study/augflow.yaml: 4 node(s), 2 job(s), about 1m20s of work expected from recorded durations
submitted train as Slurm job 4242 (log: logs/train.out)
adopted  eval as Slurm job 4243 (log: logs/eval.out)
job 4242  train: PENDING (Resources)
job 4242  train: RUNNING
cached    data
running   train
retrying  train (attempt 2): killed by SIGKILL
executed  train (1.23 s) after 2 attempts
FAILED    eval: exit status 1
warning: eval: low disk
warning: remote down
skipped   report@a=1: `eval` failed
1 executed, 1 cached, 0 restored, 1 failed, 1 skipped in 61.50 s (interrupted)
";
    assert_eq!(String::from_utf8_lossy(&plain.out), expected);
}

#[test]
fn plain_lines_without_history_or_interruption() {
    let mut plain = PlainRenderer { out: Vec::new() };
    let events = [
        Event::RunStarted {
            pipeline: "augflow.yaml".into(),
            nodes: 1,
            jobs: 1,
            estimates: BTreeMap::new(),
        },
        finished("fetch", NodeStatus::Restored, 7),
        finished("long", NodeStatus::Executed, 3_725_000),
        Event::RunFinished(RunSummary {
            executed: 1,
            restored: 1,
            duration_ms: 3_725_250,
            ..RunSummary::default()
        }),
    ];
    render(&mut plain, &events);
    let expected = "\
augflow: augflow.yaml: 1 node(s), 1 job(s)
restored  fetch
executed  long (3725.00 s)
1 executed, 0 cached, 1 restored, 0 failed, 0 skipped in 3725.25 s
";
    assert_eq!(String::from_utf8_lossy(&plain.out), expected);
}

#[test]
fn json_lines_of_a_run() {
    let mut json = JsonRenderer { out: Vec::new() };
    render(&mut json, &run_events());
    let expected = r#"{"event":"run_started","pipeline":"study/augflow.yaml","nodes":4,"jobs":2,"estimates":{"eval":5000,"train":75000}}
{"event":"node_submitted","stage":"train","job":"4242","log":"logs/train.out","adopted":false}
{"event":"node_submitted","stage":"eval","job":"4243","log":"logs/eval.out","adopted":true}
{"event":"job_state","stage":"train","job":"4242","state":"PENDING","reason":"Resources"}
{"event":"job_state","stage":"train","job":"4242","state":"RUNNING"}
{"event":"node_finished","stage":"data","group":"data","status":"cached","duration_ms":3}
{"event":"node_executing","stage":"train"}
{"event":"node_progress","stage":"train","message":"epoch 1/2","fraction":0.5}
{"event":"node_retrying","stage":"train","attempt":2,"reason":"killed by SIGKILL"}
{"event":"node_finished","stage":"train","group":"train","status":"executed","key":"ab12","duration_ms":1234,"attempts":2}
{"event":"node_finished","stage":"eval","group":"eval","status":"failed","duration_ms":20,"message":"exit status 1","log":".augflow/logs/eval.log"}
{"event":"warning","stage":"eval","message":"low disk"}
{"event":"warning","message":"remote down"}
{"event":"node_finished","stage":"report@a=1","group":"report","status":"skipped","duration_ms":0,"message":"`eval` failed"}
{"event":"run_finished","executed":1,"cached":1,"restored":0,"failed":1,"skipped":1,"duration_ms":61500,"interrupted":true}
"#;
    assert_eq!(String::from_utf8_lossy(&json.out), expected);
}

#[test]
fn json_leaves_out_empty_estimates() {
    let mut json = JsonRenderer { out: Vec::new() };
    json.handle(&Event::RunStarted {
        pipeline: "augflow.yaml".into(),
        nodes: 0,
        jobs: 1,
        estimates: BTreeMap::new(),
    });
    assert_eq!(
        String::from_utf8_lossy(&json.out),
        "{\"event\":\"run_started\",\"pipeline\":\"augflow.yaml\",\"nodes\":0,\"jobs\":1}\n"
    );
}

#[test]
fn watch_output_drops_only_cached_nodes() {
    let mut only = OnlyChanges(PlainRenderer { out: Vec::new() });
    let events = [
        finished("data", NodeStatus::Cached, 1),
        finished("fetch", NodeStatus::Restored, 2),
        finished("train", NodeStatus::Executed, 2_000),
    ];
    render(&mut only, &events);
    let expected = "restored  fetch\nexecuted  train (2.00 s)\n";
    assert_eq!(String::from_utf8_lossy(&only.0.out), expected);
}
