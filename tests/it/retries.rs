//! Retries on the real binary: a stage's `retries:` covers its own failures, `--retries`
//! only kills (SIGKILL, as the out-of-memory killer sends), and attempts are counted in
//! the events and the entry.

use crate::common::{TestProject, assert_mentions};

/// Counts its attempts in `tries` (outside the outputs) and succeeds from attempt 2; on
/// attempt 1 it fails the way `$FAIL` says.
fn flaky(extra: &str) -> TestProject {
    TestProject::new(&format!(
        r#"
stages:
  flaky:
    cmd: "n=$(cat tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > tries; if [ $n -lt 2 ]; then eval \"$FAIL\"; fi; echo attempt $AUGFLOW_ATTEMPT > out.txt"
    outs: [out.txt]
{extra}"#
    ))
}

/// `augflow run --json` with `FAIL` set; returns (exit code, events).
fn run_failing_with(
    project: &TestProject,
    fail: &str,
    args: &[&str],
) -> (i32, Vec<serde_json::Value>) {
    let mut all = vec!["run", "--json"];
    all.extend_from_slice(args);
    let output = project
        .command(&all)
        .env("FAIL", fail)
        .output()
        .expect("run augflow");
    let events = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    (output.status.code().unwrap_or(-1), events)
}

fn events_of<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The text field `field` of an event.
fn text<'a>(event: &'a serde_json::Value, field: &str) -> &'a str {
    event[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {event}"))
}

fn entry_attempts(project: &TestProject) -> u64 {
    let output = project.augflow(&["show", "flaky", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).expect("show json");
    shown["entry"]["metadata"]["attempts"]
        .as_u64()
        .unwrap_or_else(|| panic!("no attempts in {shown}"))
}

#[test]
fn a_flaky_stage_with_retries_succeeds_on_attempt_2() {
    let project = flaky("    retries: 2\n");
    let (code, events) = run_failing_with(&project, "exit 3", &[]);
    assert_eq!(code, 0, "{events:?}");
    assert_eq!(project.read("tries"), "2\n", "ran exactly twice");
    assert_eq!(project.read("out.txt"), "attempt 2\n");
    let retrying = events_of(&events, "node_retrying");
    assert_eq!(retrying.len(), 1, "{events:?}");
    assert_eq!(retrying[0]["stage"], "flaky");
    assert_eq!(retrying[0]["attempt"], 2);
    assert_mentions(text(retrying[0], "reason"), &["exit status 3"]);
    let finished = events_of(&events, "node_finished");
    assert_eq!(finished[0]["status"], "executed");
    assert_eq!(finished[0]["attempts"], 2);
    assert_eq!(entry_attempts(&project), 2);
}

#[test]
fn a_stage_failure_is_not_retried_unless_the_stage_asks() {
    let project = flaky("");
    // --retries covers kills, not the stage's own exit status.
    let (code, events) = run_failing_with(&project, "exit 3", &["--retries", "3"]);
    assert_eq!(code, 1);
    assert_eq!(project.read("tries"), "1\n", "ran once");
    assert!(events_of(&events, "node_retrying").is_empty());
    let finished = events_of(&events, "node_finished");
    assert_eq!(finished[0]["status"], "failed");
    assert!(finished[0].get("attempts").is_none(), "{}", finished[0]);
}

#[test]
fn run_retries_covers_a_sigkill() {
    let project = flaky("");
    let (code, events) = run_failing_with(&project, "kill -9 $$", &["--retries", "1"]);
    assert_eq!(code, 0, "{events:?}");
    assert_eq!(project.read("tries"), "2\n");
    let retrying = events_of(&events, "node_retrying");
    assert_eq!(retrying.len(), 1);
    assert_mentions(text(retrying[0], "reason"), &["SIGKILL"]);
    assert_eq!(entry_attempts(&project), 2);

    // Without --retries the same kill fails the node.
    let project = flaky("");
    let (code, _) = run_failing_with(&project, "kill -9 $$", &[]);
    assert_eq!(code, 1);
    assert_eq!(project.read("tries"), "1\n");
}

#[test]
fn retries_run_out() {
    let project = flaky("    retries: 1\n");
    // Fails on every attempt: `n -lt 2` is false from attempt 2, so fail unconditionally.
    project.edit_pipeline("echo attempt", "exit 4; echo attempt");
    let (code, events) = run_failing_with(&project, "exit 3", &[]);
    assert_eq!(code, 1);
    assert_eq!(project.read("tries"), "2\n", "one retry, then it gives up");
    let finished = events_of(&events, "node_finished");
    assert_eq!(finished[0]["status"], "failed");
    assert_eq!(finished[0]["attempts"], 2);
    assert_mentions(text(finished[0], "message"), &["exit status 4"]);
}
