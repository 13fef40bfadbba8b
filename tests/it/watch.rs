//! `augflow run --watch`: saving a dependency reruns exactly the nodes that read it; cached
//! nodes are not printed; Ctrl-C exits 130.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::metrics::grid;

/// JSON lines from stdout up to and including the next `run_finished`.
fn until_run_finished(lines: &Receiver<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    loop {
        let event = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a run_finished event within a minute");
        let done = event["event"] == "run_finished";
        events.push(event);
        if done {
            return events;
        }
    }
}

fn finished(events: &[serde_json::Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "node_finished")
        .map(|e| {
            (
                e["stage"].as_str().unwrap_or("").to_owned(),
                e["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn saving_a_dependency_reruns_exactly_its_node() {
    let project = grid();
    let mut child = project
        .command(&["run", "--watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start augflow run --watch");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
                let _ = sender.send(value);
            }
        }
    });

    let first = until_run_finished(&lines);
    assert_eq!(finished(&first).len(), 5, "{first:?}");

    project.write("scores/ddpm-1.txt", "0.65 1");
    let second = until_run_finished(&lines);
    assert_eq!(second[0]["event"], "watch_changed", "{second:?}");
    assert_eq!(second[0]["paths"], serde_json::json!(["scores/ddpm-1.txt"]));
    // Only what changed is printed: the four cached nodes are left out.
    assert_eq!(
        finished(&second),
        [("train@ddpm-1".to_owned(), "executed".to_owned())]
    );

    // An edit of the pipeline file reruns the edited stage only.
    let text = project.read("augflow.yaml");
    project.write(
        "augflow.yaml",
        &text.replace("{threshold: 0.5}", "{threshold: 0.6}"),
    );
    let third = until_run_finished(&lines);
    assert_eq!(
        finished(&third),
        [("eval".to_owned(), "executed".to_owned())]
    );

    // SAFETY: signalling our own child process by its id.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
}
