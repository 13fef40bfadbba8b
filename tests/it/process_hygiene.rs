//! No process a shell stage starts outlives its node, nor a runner killed with SIGKILL.

use std::path::Path;
use std::time::Duration;

use crate::common::{TestProject, wait_until};

/// True once `pid` no longer runs (gone, or a zombie nobody has reaped yet).
fn is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S …": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid")
}

#[test]
fn a_background_grandchild_dies_with_a_killed_runner() {
    let project = TestProject::new(
        r#"
stages:
  spawn:
    cmd: "sleep 300 & echo $! > bg.pid; sleep 300 & echo $! > fg.pid; wait"
    outs: [never.txt]
"#,
    );
    let mut runner = project.command(&["run"]).spawn().expect("spawn augflow");
    wait_until("the command to start", Duration::from_secs(60), || {
        project.path("bg.pid").exists() && project.path("fg.pid").exists()
    });
    let pids = [
        read_pid(&project.path("bg.pid")),
        read_pid(&project.path("fg.pid")),
    ];
    assert!(pids.iter().all(|&pid| !is_gone(pid)));

    runner.kill().expect("SIGKILL the runner");
    runner.wait().expect("reap the runner");
    wait_until("the grandchildren to die", Duration::from_secs(10), || {
        pids.iter().all(|&pid| is_gone(pid))
    });
}

#[test]
fn nothing_a_finished_node_started_keeps_running() {
    // `setsid` puts the second sleep in a session of its own, out of reach of a process
    // group kill; the supervisor still finds it, re-parented to it when `sh` exits.
    let project = TestProject::new(
        r#"
stages:
  leak:
    cmd: "sleep 300 & echo $! > bg.pid; setsid sleep 301 & echo $! > session.pid; echo ok > out.txt"
    outs: [out.txt]
"#,
    );
    project.run(&[]).assert_ok();
    for file in ["bg.pid", "session.pid"] {
        let pid = read_pid(&project.path(file));
        wait_until(file, Duration::from_secs(10), || is_gone(pid));
    }
}
