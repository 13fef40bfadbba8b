//! `run --executor slurm` on a real single-node Slurm cluster started on this machine by
//! `scripts/slurm-cluster.sh` (apt-installs Slurm when missing; needs root). One test, so
//! one cluster at a time; it stops the cluster when done, also on failure.
//!
//! Set `AUGFLOW_SKIP_SLURM_TEST=1` to skip it on a machine that cannot run Slurm daemons;
//! without that variable a cluster that does not start fails the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    RunResult, TestProject, names, output_digests, output_within, parse_run, phantom_and_summary,
    wait_until,
};

/// Slurm ports of the test cluster (slurmd uses the next one); not Slurm's defaults, so a
/// real cluster on the machine is left alone.
const PORT: &str = "6917";
/// Longest wait for one `augflow run`.
const RUN_LIMIT: Duration = Duration::from_secs(120);

const CONFIG: &str = "[executor.slurm]\npoll_seconds = 0.25\n";

/// Shell stages around a tiny typed stage (phantom images) and its summary.
fn pipeline() -> String {
    phantom_and_summary(11, "healthy: 2, viral: 3")
        + r#"  a:
    cmd: "echo a > a.txt"
    outs: [a.txt]
  b:
    cmd: "cat a.txt a.txt > b.txt"
    deps: [a.txt]
    outs: [b.txt]
  c:
    cmd: "ls .augflow/out/data/images/images/viral | wc -l > c.txt"
    deps: [.augflow/out/data/images]
    outs: [c.txt]
  d:
    cmd: "cat b.txt c.txt > d.txt && grep -c viral .augflow/out/summary/metrics/metrics.json >> d.txt"
    deps: [b.txt, c.txt, .augflow/out/summary/metrics]
    outs: [d.txt]
"#
}

/// `bad` fails (exit 3); `after_bad` and `after_after` depend on it, `ok1` and `ok2` do not.
const FAILING: &str = include_str!("fixtures/slurm_failing.yaml");

/// Each stage appends its name to runs.log, so a node executed twice shows.
const SLOW: &str = r#"
stages:
  s1:
    cmd: "echo s1 >> runs.log && sleep 2 && echo 1 > s1.txt"
    outs: [s1.txt]
  s2:
    cmd: "echo s2 >> runs.log && sleep 1 && cat s1.txt > s2.txt"
    deps: [s1.txt]
    outs: [s2.txt]
  s3:
    cmd: "echo s3 >> runs.log && cat s2.txt > s3.txt"
    deps: [s2.txt]
    outs: [s3.txt]
  side:
    cmd: "echo side >> runs.log && sleep 1 && echo x > side.txt"
    outs: [side.txt]
"#;

/// Six independent nodes, for the queue cap.
const GRID: &str = r#"
stages:
  g:
    matrix:
      i: [1, 2, 3, 4, 5, 6]
    cmd: "echo ${i} > g${i}.txt"
    outs: ["g${i}.txt"]
"#;

/// `prep`, four cells that read it (one job array waiting on prep's job) and four posts,
/// each waiting on its cell's array task.
const FAN: &str = r#"
stages:
  prep:
    cmd: "echo p > p.txt"
    outs: [p.txt]
  cell:
    matrix:
      i: [1, 2, 3, 4]
    cmd: "cat p.txt > c${i}.txt && echo ${i} >> c${i}.txt"
    deps: [p.txt]
    outs: ["c${i}.txt"]
  post:
    matrix:
      i: [1, 2, 3, 4]
    cmd: "cat c${i}.txt > q${i}.txt"
    deps: ["c${i}.txt"]
    outs: ["q${i}.txt"]
"#;

/// The most jobs of a run queued or running at once, as its events tell: a job counts
/// from `node_submitted` until its node's `node_finished` (Slurm drops it earlier).
fn peak_in_flight(events: &[serde_json::Value]) -> usize {
    let (mut now, mut peak) = (0usize, 0usize);
    let mut submitted = std::collections::BTreeSet::new();
    for event in events {
        let stage = event["stage"].as_str().unwrap_or("");
        if event["event"] == "node_submitted" {
            submitted.insert(stage.to_owned());
            now += 1;
            peak = peak.max(now);
        } else if event["event"] == "node_finished" && submitted.remove(stage) {
            now -= 1;
        }
    }
    peak
}

struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Option<Cluster> {
        if std::env::var_os("AUGFLOW_SKIP_SLURM_TEST").is_some_and(|v| v == "1") {
            eprintln!("AUGFLOW_SKIP_SLURM_TEST=1: the Slurm executor test is skipped");
            return None;
        }
        let cluster = Cluster {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let output = cluster.script("start");
        assert!(
            output.status.success(),
            "the single-node Slurm cluster did not start (scripts/slurm-cluster.sh start; \
             it needs root and apt, or Slurm installed; set AUGFLOW_SKIP_SLURM_TEST=1 to skip \
             this test on a machine that cannot run it):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(cluster)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn script(&self, action: &str) -> Output {
        Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-cluster.sh"))
            .arg(action)
            .env("AUGFLOW_SLURM_DIR", self.dir.path())
            .env("AUGFLOW_SLURM_PORT", PORT)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/slurm-cluster.sh")
    }

    fn project(&self, pipeline: &str) -> TestProject {
        let mut project = TestProject::new(pipeline);
        project.write("augflow.toml", CONFIG);
        project
            .env
            .push(("SLURM_CONF".to_owned(), self.conf().display().to_string()));
        project
    }

    /// Job name → how many jobs of that name ran in `workdir` (squeue keeps finished
    /// jobs for MinJobAge = 300 s).
    fn jobs_in(&self, workdir: &Path) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (name, _) in self.jobs_with_states(workdir) {
            *counts.entry(name).or_insert(0) += 1;
        }
        counts
    }

    /// Job name → state of the jobs that ran in `workdir` (one job per name expected).
    fn job_states_in(&self, workdir: &Path) -> BTreeMap<String, String> {
        self.jobs_with_states(workdir).into_iter().collect()
    }

    fn jobs_with_states(&self, workdir: &Path) -> Vec<(String, String)> {
        let output = Command::new("squeue")
            .args(["--noheader", "--states=all", "--format=%j|%Z|%T"])
            .env("SLURM_CONF", self.conf())
            .output()
            .expect("run squeue");
        assert!(output.status.success(), "squeue failed");
        let want = workdir.canonicalize().expect("canonical workdir");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let mut fields = line.trim().split('|');
                let (name, dir, state) = (fields.next()?, fields.next()?, fields.next()?);
                (Path::new(dir).canonicalize().ok().as_deref() == Some(&want))
                    .then(|| (name.to_owned(), state.to_owned()))
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let output = self.script("stop");
        if !output.status.success() {
            eprintln!(
                "failed to stop the Slurm cluster: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// Starts `augflow run --json --executor slurm`, its output piped.
fn spawn_slurm_run(project: &TestProject, extra: &[&str]) -> Child {
    let mut args = vec!["run", "--json", "--executor", "slurm"];
    args.extend_from_slice(extra);
    project
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn augflow")
}

/// `augflow run --json --executor slurm`, with a time limit.
fn slurm_run(project: &TestProject, extra: &[&str]) -> (RunResult, Vec<serde_json::Value>) {
    let child = spawn_slurm_run(project, extra);
    let output = output_within(child, RUN_LIMIT, "augflow run");
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON event"))
        .collect();
    (parse_run(&output), events)
}

/// (node, adopted) of every `node_submitted` event.
fn submitted(events: &[serde_json::Value]) -> Vec<(String, bool)> {
    let mut list: Vec<(String, bool)> = events
        .iter()
        .filter(|e| e["event"] == "node_submitted")
        .map(|e| {
            (
                e["stage"].as_str().expect("stage").to_owned(),
                e["adopted"].as_bool().expect("adopted"),
            )
        })
        .collect();
    list.sort();
    list
}

#[test]
fn slurm_executor_matches_local_skips_dependents_and_resumes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let all = ["a", "b", "c", "d", "data", "summary"];

    // 1. Same outputs as a local run, every node through its own job.
    let local = TestProject::new(&pipeline());
    local.run(&[]).assert_ok();
    let project = cluster.project(&pipeline());
    let (first, events) = slurm_run(&project, &[]);
    first.assert_ok();
    assert_eq!(first.executed(), names(&all));
    assert_eq!(
        submitted(&events),
        names(&all)
            .into_iter()
            .map(|n| (n, false))
            .collect::<Vec<_>>()
    );
    // A short job may start and end between two polls, so RUNNING itself is not always
    // seen (a loaded machine missed it); a job followed to its end always is.
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "job_state"
                && (e["state"] == "RUNNING" || e["state"] == "COMPLETED")),
        "no job was followed past the queue"
    );
    for node in all {
        assert_eq!(
            output_digests(&project, node),
            output_digests(&local, node),
            "outputs of `{node}` differ from a local run"
        );
    }
    assert_eq!(project.read("d.txt"), local.read("d.txt"));
    assert_eq!(project.read("d.txt"), "a\na\n3\n1\n");

    // 2. Nothing changed: no job at all.
    let (second, events) = slurm_run(&project, &[]);
    second.assert_ok();
    assert_eq!(second.with_status("cached"), names(&all));
    assert_eq!(submitted(&events), []);

    // An edit re-submits exactly what it invalidates.
    project.edit_pipeline("echo a > a.txt", "echo A > a.txt");
    let (third, _) = slurm_run(&project, &[]);
    third.assert_ok();
    assert_eq!(third.executed(), names(&["a", "b", "d"]));
    assert_eq!(project.read("d.txt"), "A\nA\n3\n1\n");

    // 3. A failed job fails its node; its dependents are skipped, the rest completes.
    let failing = cluster.project(FAILING);
    let (result, events) = slurm_run(&failing, &["--keep-going"]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_eq!(result.with_status("failed"), names(&["bad"]));
    assert_eq!(
        result.with_status("skipped"),
        names(&["after_bad", "after_after"])
    );
    assert_eq!(result.executed(), names(&["ok1", "ok2"]));
    let bad = events
        .iter()
        .find(|e| e["event"] == "node_finished" && e["stage"] == "bad")
        .expect("bad finished");
    let message = bad["message"].as_str().unwrap_or("");
    assert!(
        message.contains("exit status 3") && message.contains("boom-from-bad"),
        "the failure names the exit status and the log's tail: {message}"
    );
    assert!(
        bad["log"]
            .as_str()
            .is_some_and(|log| Path::new(log).exists()),
        "the failure points at the job's log: {bad}"
    );

    // 4. The runner is killed while its jobs run; a new runner adopts them and submits
    //    nothing twice.
    let slow = cluster.project(SLOW);
    let mut child = spawn_slurm_run(&slow, &[]);
    let all_submitted = || {
        std::fs::read(slow.path(".augflow/slurm/jobs.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|jobs| jobs["nodes"].as_object().map(serde_json::Map::len))
            == Some(4)
    };
    wait_until(
        "a job of the slow pipeline",
        Duration::from_secs(60),
        || slow.path("runs.log").exists() && all_submitted(),
    );
    child.kill().expect("kill -9 the runner");
    child.wait().expect("reap the runner");
    let (resumed, events) = slurm_run(&slow, &[]);
    resumed.assert_ok();
    assert!(
        submitted(&events).iter().any(|(_, adopted)| *adopted),
        "the restarted runner adopted no job: {events:?}"
    );
    let fresh: Vec<String> = submitted(&events)
        .into_iter()
        .filter(|(_, adopted)| !adopted)
        .map(|(node, _)| node)
        .collect();
    assert!(
        fresh.is_empty(),
        "the restarted runner submitted {fresh:?} again"
    );
    let jobs = cluster.jobs_in(slow.dir.path());
    assert_eq!(
        jobs,
        ["s1", "s2", "s3", "side"]
            .iter()
            .map(|n| (format!("augflow:{n}"), 1))
            .collect::<BTreeMap<_, _>>(),
        "each node must have exactly one job"
    );
    let mut runs: Vec<String> = slow.read("runs.log").lines().map(str::to_owned).collect();
    runs.sort();
    assert_eq!(runs, names(&["s1", "s2", "s3", "side"]));
    assert_eq!(slow.read("s3.txt"), "1\n");
    let (again, events) = slurm_run(&slow, &[]);
    again.assert_ok();
    assert_eq!(submitted(&events), []);

    // 5. Ctrl-C cancels the run's jobs (scancel); nothing of them is left queued.
    let interrupted = cluster.project(&SLOW.replace("sleep 2", "sleep 30"));
    let child = spawn_slurm_run(&interrupted, &[]);
    wait_until(
        "a job of the interrupted pipeline",
        Duration::from_secs(60),
        || interrupted.path("runs.log").exists(),
    );
    let pid = child.id();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill -INT")
            .success()
    );
    let output = output_within(child, Duration::from_secs(30), "augflow run after Ctrl-C");
    let result = parse_run(&output);
    assert_eq!(result.code, 130, "{}", result.stderr);
    // scancel is asynchronous: a cancelled job may be COMPLETING for a few seconds.
    let settle = Instant::now();
    let mut states = cluster.job_states_in(interrupted.dir.path());
    while states.values().any(|s| s == "COMPLETING") && settle.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
        states = cluster.job_states_in(interrupted.dir.path());
    }
    assert!(
        states
            .values()
            .all(|state| state == "CANCELLED" || state == "COMPLETED"),
        "jobs left after Ctrl-C: {states:?}"
    );
    assert_eq!(
        states.get("augflow:s1").map(String::as_str),
        Some("CANCELLED")
    );

    // 6. A grid larger than `max_queued` is submitted as earlier jobs end.
    let grid = cluster.project(GRID);
    grid.write(
        "augflow.toml",
        "[executor.slurm]\npoll_seconds = 0.25\nmax_queued = 2\n",
    );
    let (result, events) = slurm_run(&grid, &[]);
    result.assert_ok();
    assert_eq!(result.executed().len(), 6);
    assert_eq!(submitted(&events).len(), 6);
    assert_eq!(peak_in_flight(&events), 2);

    // 7. Ready siblings go out as one job array (`sbatch --array`); each task runs its own
    // node and writes its own log, and a node behind a task waits on that task alone
    // (`afterok:<job>_<task>`).
    let fan = cluster.project(FAN);
    let (result, events) = slurm_run(&fan, &[]);
    result.assert_ok();
    assert_eq!(result.executed().len(), 9);
    let job_of = |node: &str| -> String {
        events
            .iter()
            .find(|e| e["event"] == "node_submitted" && e["stage"] == node)
            .and_then(|e| e["job"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let cell_jobs: Vec<String> = (1..=4).map(|i| job_of(&format!("cell@{i}"))).collect();
    let array = cell_jobs[0]
        .split('_')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        cell_jobs,
        (0..4).map(|t| format!("{array}_{t}")).collect::<Vec<_>>(),
        "the four cells are the tasks of one array"
    );
    for i in 1..=4 {
        assert_eq!(fan.read(&format!("q{i}.txt")), format!("p\n{i}\n"));
        // The task wrote its node's log, where failure messages look for it, and its
        // result under the task's id (else the runner ignores it: warnings, errors and
        // whether the job executed are lost).
        assert!(
            fan.path(&format!(".augflow/slurm/logs/cell@{i}.log"))
                .is_file()
        );
        let result: serde_json::Value =
            serde_json::from_str(&fan.read(&format!(".augflow/slurm/results/cell@{i}.json")))
                .expect("the task's result file");
        assert_eq!(result["job"], cell_jobs[i - 1].as_str());
    }
}
