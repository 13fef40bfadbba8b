//! `augflow metrics --rev` / `--diff`: the table at a git revision of a real repository,
//! its keys computed from the files in git and looked up in the local store.

use std::process::Command;

use crate::common::{TestProject, assert_mentions, failed, stdout, succeed};
use crate::metrics::grid;

fn git(project: &TestProject, args: &[&str]) {
    succeed(
        Command::new("git")
            .args([
                "-c",
                "user.name=augflow",
                "-c",
                "user.email=augflow@example.com",
            ])
            .args(args)
            .current_dir(project.dir.path()),
    );
}

/// A new repository in `project` whose first commit, `A`, holds `paths`.
fn git_init_with_commit(project: &TestProject, paths: &[&str]) {
    git(project, &["init", "-q"]);
    git(project, &[&["add"], paths].concat());
    git(project, &["commit", "-q", "-m", "A"]);
}

/// Commit A: the grid, all run. Commit B: gan-1 and ddpm-2 rescored, only gan-1 run.
/// Working tree: ddpm-2 rescored again and run, plus an `extra` stage.
fn history() -> TestProject {
    let project = grid();
    project.write(".gitignore", ".augflow/\nm/\n*.json\n");
    git_init_with_commit(&project, &["."]);
    project.run(&[]).assert_ok();

    project.write("scores/gan-1.txt", "0.85 0.2");
    project.write("scores/ddpm-2.txt", "0.72 1.5");
    git(&project, &["commit", "-q", "-am", "B"]);
    project.run(&["-t", "train@gan-1"]).assert_ok();

    project.write("scores/ddpm-2.txt", "0.75 1.5");
    let text = project.read("augflow.yaml");
    project.write(
        "augflow.yaml",
        &format!("{text}  extra:\n    cmd: 'echo \"{{\\\"hits\\\": 1}}\" > extra.json'\n    metrics: [extra.json]\n"),
    );
    project
        .run(&[])
        .assert_ok()
        .assert_executed(&["extra", "train@ddpm-2"]);
    project
}

#[test]
fn the_table_at_a_revision_uses_that_revisions_keys() {
    let project = history();
    // At B, ddpm-2's key (score 0.72) was never computed; everything else was.
    assert_eq!(
        stdout(&project, &["metrics", "--stage", "train", "--rev", "HEAD"]),
        "\
node          gen   rep     acc  device  loss.final  state
------------  ----  ---  ------  ------  ----------  -------
train@gan-1   gan     1  0.8500  cpu         0.2000  ok
train@gan-2   gan     2  0.9000  cpu         0.5000  ok
train@ddpm-1  ddpm    1  0.6000  cpu         1.2500  ok
train@ddpm-2  ddpm    2       -  -                -  not run
"
    );
    // The working tree is untouched by reading a revision.
    assert_eq!(project.read("scores/ddpm-2.txt"), "0.75 1.5");
}

#[test]
fn diff_columns_compare_each_metric_with_the_revision() {
    let project = history();
    assert_eq!(
        stdout(&project, &["metrics", "--diff", "HEAD~1", "--precision", "2"]),
        "\
node          gen   rep   lr  threshold   acc  Δ acc  device  loss.final  Δ loss.final  hits  Δ hits  state  HEAD~1
------------  ----  ---  ---  ---------  ----  -----  ------  ----------  ------------  ----  ------  -----  ---------------
train@gan-1   gan     1  0.1          -  0.85  +0.05  cpu           0.20         -0.05     -       -  ok     computed
train@gan-2   gan     2  0.1          -  0.90  +0.00  cpu           0.50         +0.00     -       -  ok     same key
train@ddpm-1  ddpm    1  0.1          -  0.60  +0.00  cpu           1.25         +0.00     -       -  ok     same key
train@ddpm-2  ddpm    2  0.1          -  0.75  +0.05  cpu           1.50         +0.00     -       -  ok     computed
eval          -       -    -        0.5     -      -  -                -             -     3   +0.00  ok     same key
extra         -       -    -          -     -      -  -                -             -     1       -  ok     not in pipeline
"
    );
    let stderr = failed(&project, &["metrics", "--diff", "no-such-rev"], 2);
    assert_mentions(
        &stderr,
        &["failed to read revision `no-such-rev`: no such commit"],
    );
}

#[test]
fn diff_json_names_nodes_never_computed_at_the_revision() {
    let project = history();
    let value: serde_json::Value = serde_json::from_str(&stdout(
        &project,
        &["metrics", "--stage", "train", "--diff", "HEAD", "--json"],
    ))
    .expect("json");
    let rows = value["rows"].as_array().expect("rows");
    let ddpm2 = rows
        .iter()
        .find(|r| r["node"] == "train@ddpm-2")
        .expect("ddpm-2");
    assert_eq!(ddpm2["base"]["state"], "never_run");
    assert_eq!(ddpm2["diff"], serde_json::json!({}));
    let gan1 = rows
        .iter()
        .find(|r| r["node"] == "train@gan-1")
        .expect("gan-1");
    assert_eq!(gan1["base"]["key"], gan1["key"]);
    assert_eq!(gan1["diff"]["acc"], 0.0);
}

/// `score` reads `prep`'s output by path: git does not hold it, so the revision's key of
/// `score` needs `prep`'s output restored from the store.
const CHAIN: &str = r#"
stages:
  prep:
    cmd: "mkdir -p data && cp input.txt data/x.txt"
    deps: [input.txt]
    outs: [data]
  score:
    cmd: 'printf "{\"size\": %s}" $(wc -c < data/x.txt) > score.json'
    deps: [data/x.txt]
    metrics: [score.json]
"#;

#[test]
fn outputs_read_by_path_are_restored_into_the_revisions_copy() {
    let project = TestProject::new(CHAIN);
    project.write("input.txt", "abc\n");
    project.write(".gitignore", ".augflow/\ndata/\nscore.json\n");
    git_init_with_commit(&project, &["."]);
    project.run(&[]).assert_ok();
    project.write("input.txt", "abcdef\n");
    project.run(&[]).assert_ok();
    assert_eq!(
        stdout(&project, &["metrics", "--diff", "HEAD", "--csv"]),
        "node,size,Δ size,state,HEAD\nscore,7,3,ok,computed\n"
    );
    assert_eq!(
        project.read("data/x.txt"),
        "abcdef\n",
        "the workspace is untouched"
    );
}

#[test]
fn symlinks_committed_at_the_revision_are_not_followed() {
    let project = TestProject::new(CHAIN);
    project.write("input.txt", "abc\n");
    project.run(&[]).assert_ok();
    // The same bytes, now behind a link out of the project: followed, the revision's
    // keys would equal the computed ones.
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("input.txt"), "abc\n").expect("write");
    std::fs::remove_file(project.path("input.txt")).expect("remove");
    std::os::unix::fs::symlink(outside.path().join("input.txt"), project.path("input.txt"))
        .expect("symlink");
    git_init_with_commit(&project, &["augflow.yaml", "input.txt"]);
    assert_eq!(
        stdout(&project, &["metrics", "--rev", "HEAD", "--csv"]),
        "node,state\nscore,not run\n"
    );
    assert_eq!(
        stdout(&project, &["metrics", "--csv"]),
        "node,size,state\nscore,4,ok\n"
    );
}
