//! Incremental behaviour of shell stages: what reruns after which edit.

use std::time::{Duration, SystemTime};

use crate::common::{TestProject, names};

/// prep → train → report, plus an independent `other`.
const CHAIN: &str = r#"
params:
  greeting: hello
stages:
  prep:
    cmd: "mkdir -p out && cat input.txt > out/prep.txt && echo ${greeting} ${scale} >> out/prep.txt"
    params: {scale: 1}
    deps: [input.txt]
    outs: [out/prep.txt]
  train:
    cmd: "wc -c < out/prep.txt > out/train.txt"
    deps: [out/prep.txt]
    outs: [out/train.txt]
  report:
    cmd: "cat out/train.txt out/prep.txt > out/report.txt"
    deps: [out/train.txt, out/prep.txt]
    outs: [out/report.txt]
  other:
    cmd: "echo independent > other.txt"
    outs: [other.txt]
"#;

/// Every node of [`CHAIN`].
const CHAIN_NODES: [&str; 4] = ["prep", "train", "report", "other"];

fn chain() -> TestProject {
    let project = TestProject::new(CHAIN);
    project.write("input.txt", "raw data\n");
    project
}

#[test]
fn first_run_executes_everything_and_a_rerun_nothing() {
    let project = chain();
    project.run(&[]).assert_ok().assert_executed(&CHAIN_NODES);
    assert_eq!(project.read("out/prep.txt"), "raw data\nhello 1\n");

    project
        .run(&[])
        .assert_ok()
        .assert_executed(&[])
        .assert_status("cached", &CHAIN_NODES);
}

#[test]
fn a_param_change_reruns_the_node_and_its_descendants_and_changing_back_hits() {
    let project = chain();
    project.run(&[]).assert_ok();

    project.edit_pipeline("params: {scale: 1}", "params: {scale: 2}");
    project
        .run(&[])
        .assert_ok()
        .assert_executed(&["prep", "train", "report"])
        .assert_status("cached", &["other"]);

    project.edit_pipeline("params: {scale: 2}", "params: {scale: 1}");
    // Earlier results are reused.
    project.run(&[]).assert_ok().assert_executed(&[]);
    assert_eq!(project.read("out/prep.txt"), "raw data\nhello 1\n");

    // A top-level param used through `${greeting}` is part of the interpolated command.
    project.edit_pipeline("greeting: hello", "greeting: bonjour");
    project
        .run(&[])
        .assert_ok()
        .assert_executed(&["prep", "train", "report"]);
}

#[test]
fn editing_a_dependency_reruns_consumers_and_touching_it_reruns_nothing() {
    let project = chain();
    project.run(&[]).assert_ok();

    project.write("input.txt", "new raw data\n");
    project
        .run(&[])
        .assert_ok()
        .assert_executed(&["prep", "train", "report"]);

    let file = std::fs::File::options()
        .write(true)
        .open(project.path("input.txt"))
        .unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(file);
    project.run(&[]).assert_ok().assert_executed(&[]);
}

#[test]
fn early_cutoff_stops_at_identical_output_bytes() {
    let project = TestProject::new(
        r#"
stages:
  upstream:
    cmd: "echo constant > up.txt"
    params: {irrelevant: 1}
    outs: [up.txt]
  downstream:
    cmd: "cat up.txt up.txt > down.txt"
    deps: [up.txt]
    outs: [down.txt]
"#,
    );
    project.run(&[]).assert_ok();
    project.edit_pipeline("irrelevant: 1", "irrelevant: 2");
    project
        .run(&[])
        .assert_ok()
        .assert_executed(&["upstream"])
        .assert_status("cached", &["downstream"]);
}

#[test]
fn deleted_outputs_are_restored_from_the_store_without_executing() {
    let project = chain();
    project.run(&[]).assert_ok();
    let before = project.read("out/report.txt");
    std::fs::remove_dir_all(project.path("out")).unwrap();
    std::fs::write(project.path("other.txt"), "edited by hand\n").unwrap();

    project.run(&[]).assert_ok().assert_executed(&[]);
    assert_eq!(project.read("out/report.txt"), before);
    assert_eq!(project.read("other.txt"), "independent\n");
}

#[test]
fn status_and_explain_name_what_changed() {
    let project = chain();
    project.run(&[]).assert_ok();
    project.edit_pipeline("params: {scale: 1}", "params: {scale: 3}");

    let status = project.augflow(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("stale       prep"), "{text}");
    assert!(text.contains("param scale: 1 → 3"), "{text}");
    assert!(text.contains("stale       train"), "{text}");
    assert!(text.contains("dependency `prep` will run first"), "{text}");
    assert!(text.contains("up to date  other"), "{text}");

    let explain = project.augflow(&["explain", "prep"]);
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(text.contains("param scale: 1 → 3"), "{text}");
    assert!(text.contains("command: `mkdir -p out"), "{text}");

    // The dry run executes nothing.
    let dry = project.augflow(&["run", "--dry-run"]);
    assert!(dry.status.success());
    assert_eq!(project.read("out/prep.txt"), "raw data\nhello 1\n");
}

#[test]
fn a_failure_skips_dependents_and_keep_going_finishes_independent_branches() {
    let project = TestProject::new(
        r#"
stages:
  broken:
    cmd: "echo about to fail; exit 3"
    outs: [b.txt]
  after_broken:
    cmd: "cp b.txt c.txt"
    deps: [b.txt]
    outs: [c.txt]
  fine:
    cmd: "echo ok > fine.txt"
    outs: [fine.txt]
"#,
    );
    let result = project.run(&["--keep-going"]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    result
        .assert_status("failed", &["broken"])
        .assert_status("skipped", &["after_broken"])
        .assert_executed(&["fine"]);
    let log = project.read(".augflow/logs/broken.log");
    assert!(log.contains("about to fail"));
}

#[test]
fn parallel_jobs_give_the_same_results_as_one_job() {
    let serial = chain();
    let parallel = chain();
    serial.run(&["-j", "1"]).assert_ok();
    parallel
        .run(&["-j", "4"])
        .assert_ok()
        .assert_executed(&CHAIN_NODES);
    for file in [
        "out/prep.txt",
        "out/train.txt",
        "out/report.txt",
        "other.txt",
    ] {
        assert_eq!(serial.read(file), parallel.read(file), "{file}");
    }
}

#[test]
fn targets_run_only_their_ancestors() {
    let project = chain();
    project
        .run(&["--target", "train"])
        .assert_ok()
        .assert_executed(&["prep", "train"]);
    assert!(!project.path("out/report.txt").exists());
}

#[test]
fn gc_keeps_current_results_and_removes_old_ones() {
    let project = chain();
    project.run(&[]).assert_ok();
    project.edit_pipeline("params: {scale: 1}", "params: {scale: 2}");
    project.run(&[]).assert_ok();

    let dry = project.augflow(&["gc", "--grace", "0", "--dry-run"]);
    assert!(dry.status.success());
    assert!(String::from_utf8_lossy(&dry.stdout).contains("would remove 3 action entries"));
    assert!(
        project.run(&[]).executed().is_empty(),
        "dry run removed something"
    );

    let gc = project.augflow(&["gc", "--grace", "0"]);
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert!(
        project.run(&[]).executed().is_empty(),
        "gc removed current results"
    );

    project.edit_pipeline("params: {scale: 2}", "params: {scale: 1}");
    assert_eq!(
        project.run(&[]).executed(),
        names(&["prep", "train", "report"])
    );
    crate::common::assert_store_blobs_valid(&project.store());
}

#[test]
fn a_rerun_announces_estimates_from_recorded_durations() {
    let project = TestProject::new(
        "stages:\n  slow:\n    matrix: {n: [1, 2]}\n    params: {v: 1}\n    cmd: \"sleep 0.3; echo ${v} > out-${n}.txt\"\n    outs: [\"out-${n}.txt\"]\n  fast:\n    cmd: \"echo hi > fast.txt\"\n    outs: [fast.txt]\n",
    );
    let first = project.augflow(&["run", "--json"]);
    let first = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        !first.contains("\"estimates\""),
        "no history, no estimates: {first}"
    );
    project.edit_pipeline("params: {v: 1}", "params: {v: 2}");
    let second = project.augflow(&["run", "--json"]);
    let stdout = String::from_utf8_lossy(&second.stdout);
    let started: serde_json::Value = stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| event["event"] == "run_started")
        .unwrap();
    let estimates = started["estimates"].as_object().expect("estimates");
    // Only the two stale nodes, each from its own last run (≥ 300 ms of sleep).
    assert_eq!(
        estimates.keys().collect::<Vec<_>>(),
        ["slow@1", "slow@2"],
        "{started}"
    );
    for ms in estimates.values() {
        let ms = ms.as_u64().unwrap();
        assert!((300..5_000).contains(&ms), "{started}");
    }
}
