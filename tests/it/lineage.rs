//! `augflow lineage` and `show`'s "used by" line, across two pipelines sharing one store.

use crate::common::{TestProject, assert_mentions, failed, stdout};

const FIRST: &str = r#"
stages:
  prep:
    cmd: "echo hello > data.txt"
    outs: [data.txt]
  count:
    cmd: "wc -c < data.txt > count.txt"
    deps: [data.txt]
    outs: [count.txt]
"#;

/// Another pipeline with the same `prep` (same key: a cache hit on the shared store).
const SECOND: &str = r#"
stages:
  prep:
    cmd: "echo hello > data.txt"
    outs: [data.txt]
  shout:
    params: {loud: true}
    cmd: "tr a-z A-Z < data.txt > shout.txt"
    deps: [data.txt]
    outs: [shout.txt]
"#;

fn key_of(project: &TestProject, store: &str, pipeline: &str, node: &str) -> String {
    let output = project.augflow(&["--store", store, "show", node, "-p", pipeline, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).expect("show --json");
    shown["key"].as_str().expect("key").to_owned()
}

#[test]
fn lineage_and_users_span_the_pipelines_that_share_a_store() {
    let project = TestProject::new(FIRST);
    project.write("other/augflow.yaml", SECOND);
    let store = project.path("shared-store");
    let store = store.to_str().expect("utf-8 path");
    project.run(&["--store", store]).assert_ok();
    let second = project.run(&["--store", store, "other/augflow.yaml"]);
    second.assert_ok();
    assert_eq!(
        second.executed(),
        ["shout"],
        "prep is a hit on the shared store"
    );

    let prep = key_of(&project, store, "augflow.yaml", "prep");
    let count = key_of(&project, store, "augflow.yaml", "count");
    let shout = key_of(&project, store, "other/augflow.yaml", "shout");
    assert_eq!(prep, key_of(&project, store, "other/augflow.yaml", "prep"));

    assert_eq!(
        stdout(
            &project,
            &["--store", store, "lineage", "prep", "--used-by"]
        ),
        format!(
            "used by:\n  count  key {}  reads data.txt as `data.txt`\n  \
             shout  key {}  reads data.txt as `data.txt`  (other/augflow.yaml)\n",
            &count[..12],
            &shout[..12]
        )
    );
    // From the other pipeline: its `prep` entry was produced by the first one.
    assert_eq!(
        stdout(
            &project,
            &[
                "--store",
                store,
                "lineage",
                "shout",
                "-p",
                "other/augflow.yaml"
            ]
        ),
        format!(
            "shout [cmd]  key {}\n  params: {{\"loud\":true}}\n  data.txt <- prep.data.txt\n    \
             prep [cmd]  key {}  (augflow.yaml)\n",
            &shout[..12],
            &prep[..12]
        )
    );
    // A path inside a node's outputs names that node.
    assert_eq!(
        stdout(&project, &["--store", store, "lineage", "count.txt"]),
        format!(
            "count [cmd]  key {}\n  data.txt <- prep.data.txt\n    prep [cmd]  key {}\n",
            &count[..12],
            &prep[..12]
        )
    );
    let shown = stdout(&project, &["--store", store, "show", "prep"]);
    assert!(
        shown.contains("\n  used by: count, shout (other/augflow.yaml)\n"),
        "{shown}"
    );
    let shown = stdout(&project, &["--store", store, "show", "count"]);
    assert!(
        shown.contains("\n  used by: nothing in the store\n"),
        "{shown}"
    );
}

#[test]
fn unknown_targets_and_unrun_nodes_are_clear_errors() {
    let project = TestProject::new(FIRST);
    let stderr = failed(&project, &["lineage", "nope"], 2);
    assert_mentions(&stderr, &["failed to trace `nope`: no node has that name"]);
    let stderr = failed(&project, &["lineage", "count"], 1);
    assert_mentions(
        &stderr,
        &["`count` has no result in the store (run it first)"],
    );
}
