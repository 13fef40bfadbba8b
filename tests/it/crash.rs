//! `kill -9` of the runner while a stage runs must leave the store consistent.

use std::time::{Duration, Instant};

use crate::common::{TestProject, action_entry_path, assert_store_blobs_valid, names};

const SLOW: &str = r#"
stages:
  slow:
    cmd: "touch started.marker && head -c 3000000 /dev/zero > big.bin && sleep ${pause} && echo done > slow.txt"
    params: {pause: 0.4}
    outs: [big.bin, slow.txt]
  after:
    cmd: "cat slow.txt > after.txt"
    deps: [slow.txt]
    outs: [after.txt]
"#;

fn wait_for(path: &std::path::Path, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn kill_9_mid_stage_leaves_no_entry_and_no_partial_blob() {
    // Different delays hit the command itself, and the ingestion right after it.
    for (trial, delay_ms) in [0u64, 150, 380, 420, 450].into_iter().enumerate() {
        let project = TestProject::new(SLOW);
        let mut child = project
            .command(&["run", "--json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn augflow");
        assert!(
            wait_for(&project.path("started.marker"), Duration::from_secs(20)),
            "trial {trial}: stage never started"
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().expect("kill -9");
        child.wait().expect("reap");

        // The stage's key, as the next run would compute it.
        let status = project.augflow(&["status", "--json"]);
        let lines = String::from_utf8_lossy(&status.stdout).into_owned();
        let slow: serde_json::Value = lines
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["stage"] == "slow")
            .expect("slow in status");
        let key = slow["key"].as_str().expect("key").to_owned();
        let entry = action_entry_path(&project.store(), &key);
        if slow["state"] == "stale" {
            assert!(
                !entry.exists(),
                "trial {trial}: entry exists for a stale node"
            );
        } else {
            // The kill came after publishing: then the entry must be complete and valid.
            assert!(entry.exists());
        }
        assert_store_blobs_valid(&project.store());

        // The orphaned command must not write after the runner died.
        std::thread::sleep(Duration::from_millis(600));
        let next = project.run(&[]);
        next.assert_ok();
        assert_eq!(project.read("slow.txt"), "done\n", "trial {trial}");
        assert_eq!(project.read("after.txt"), "done\n", "trial {trial}");
        assert_eq!(
            std::fs::metadata(project.path("big.bin")).unwrap().len(),
            3_000_000
        );
        let again = project.run(&[]);
        assert_eq!(again.executed(), Vec::<String>::new(), "trial {trial}");
        assert_eq!(again.with_status("cached"), names(&["after", "slow"]));
        assert_store_blobs_valid(&project.store());
    }
}

#[test]
fn ctrl_c_stops_the_command_publishes_nothing_and_exits_130() {
    let project = TestProject::new(
        r#"
stages:
  long:
    cmd: "touch started.marker && sleep 5 && echo late > long.txt"
    outs: [long.txt]
"#,
    );
    let child = project
        .command(&["run", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn augflow");
    assert!(wait_for(
        &project.path("started.marker"),
        Duration::from_secs(20)
    ));
    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the command was not stopped"
    );
    let result = crate::common::parse_run(&output);
    assert_eq!(result.with_status("failed"), names(&["long"]));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!project.path("long.txt").exists());
    assert_store_blobs_valid(&project.store());
    let dry = project.augflow(&["run", "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("stale       long"));
}
