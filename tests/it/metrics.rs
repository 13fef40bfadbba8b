//! `augflow metrics`: the compare table of a grid, read from the store (nothing runs),
//! stale nodes marked, grouping, sorting and the CSV/Markdown/JSON forms.

use serde_json::json;

use crate::common::{TestProject, assert_mentions, failed, names, stdout};

/// A 2×2 grid whose metrics come from one score file per node, and a plain `eval` stage.
pub const GRID: &str = r#"
stages:
  train:
    matrix:
      gen: [gan, ddpm]
      rep: [1, 2]
    params: {lr: 0.1}
    cmd: 'mkdir -p m && printf "{\"acc\": %s, \"loss\": {\"final\": %s}, \"device\": \"cpu\", \"curve\": [1, 2]}" $(cat scores/${gen}-${rep}.txt) > m/${gen}-${rep}.json'
    deps: ["scores/${gen}-${rep}.txt"]
    metrics: ["m/${gen}-${rep}.json"]
  eval:
    params: {threshold: 0.5}
    cmd: 'echo "{\"hits\": 3}" > eval.json'
    metrics: [eval.json]
"#;

/// Every node of [`GRID`].
pub const GRID_NODES: [&str; 5] = [
    "train@gan-1",
    "train@gan-2",
    "train@ddpm-1",
    "train@ddpm-2",
    "eval",
];

pub fn grid() -> TestProject {
    let project = TestProject::new(GRID);
    for (cell, score) in [
        ("gan-1", "0.8 0.25"),
        ("gan-2", "0.9 0.5"),
        ("ddpm-1", "0.6 1.25"),
        ("ddpm-2", "0.7 1.5"),
    ] {
        project.write(&format!("scores/{cell}.txt"), score);
    }
    project
}

#[test]
fn the_table_lists_every_node_with_axes_varying_params_and_metrics() {
    let project = grid();
    project.run(&[]).assert_ok().assert_executed(&GRID_NODES);

    assert_eq!(
        stdout(&project, &["metrics"]),
        "\
node          gen   rep   lr  threshold     acc  device  loss.final  hits  state
------------  ----  ---  ---  ---------  ------  ------  ----------  ----  -----
train@gan-1   gan     1  0.1          -  0.8000  cpu         0.2500     -  ok
train@gan-2   gan     2  0.1          -  0.9000  cpu         0.5000     -  ok
train@ddpm-1  ddpm    1  0.1          -  0.6000  cpu         1.2500     -  ok
train@ddpm-2  ddpm    2  0.1          -  0.7000  cpu         1.5000     -  ok
eval          -       -    -        0.5       -  -                -     3  ok
"
    );
    assert_eq!(
        stdout(&project, &["metrics", "--stage", "train", "--csv"]),
        "\
node,gen,rep,acc,device,loss.final,state
train@gan-1,gan,1,0.8,cpu,0.25,ok
train@gan-2,gan,2,0.9,cpu,0.5,ok
train@ddpm-1,ddpm,1,0.6,cpu,1.25,ok
train@ddpm-2,ddpm,2,0.7,cpu,1.5,ok
"
    );
    assert_eq!(
        stdout(
            &project,
            &[
                "metrics",
                "--stage",
                "train",
                "--sort",
                "acc",
                "--desc",
                "--md",
                "--precision",
                "2"
            ]
        ),
        "\
| node | gen | rep | acc | device | loss.final | state |
|---|---|---:|---:|---|---:|---|
| train@gan-2 | gan | 2 | 0.90 | cpu | 0.50 | ok |
| train@gan-1 | gan | 1 | 0.80 | cpu | 0.25 | ok |
| train@ddpm-2 | ddpm | 2 | 0.70 | cpu | 1.50 | ok |
| train@ddpm-1 | ddpm | 1 | 0.60 | cpu | 1.25 | ok |
"
    );
}

#[test]
fn json_rows_carry_keys_axes_params_and_metrics() {
    let project = grid();
    project.run(&[]).assert_ok();
    let shown: serde_json::Value =
        serde_json::from_str(&stdout(&project, &["show", "eval", "--json"])).expect("json");
    let rows: serde_json::Value =
        serde_json::from_str(&stdout(&project, &["metrics", "--stage", "eval", "--json"]))
            .expect("json");
    assert_eq!(
        rows,
        json!([{
            "node": "eval",
            "stage": "eval",
            "state": "up_to_date",
            "key": shown["key"],
            "axes": {},
            "params": {"threshold": 0.5},
            "metrics": {"hits": 3},
        }])
    );
}

#[test]
fn grouping_gives_mean_std_and_n_over_the_other_axes() {
    let project = grid();
    project.run(&[]).assert_ok();
    // gan: acc 0.8, 0.9 → mean 0.85, sample std 0.0707; ddpm: 0.6, 0.7 → 0.65, 0.0707.
    assert_eq!(
        stdout(&project, &["metrics", "--stage", "train", "--by", "gen"]),
        "\
stage  gen   n  stale              acc       loss.final
-----  ----  -  -----  ---------------  ---------------
train  gan   2      0  0.8500 ± 0.0707  0.3750 ± 0.1768
train  ddpm  2      0  0.6500 ± 0.0707  1.3750 ± 0.1768
"
    );
    // CSV keeps every digit: the sample std of two values, written out here.
    let std = |a: f64, b: f64| {
        let mean = (a + b) / 2.0;
        ((a - mean).powi(2) + (b - mean).powi(2)).sqrt()
    };
    assert_eq!(
        stdout(
            &project,
            &[
                "metrics", "--stage", "train", "--by", "rep", "--csv", "--sort", "acc.mean"
            ]
        ),
        format!(
            "stage,rep,n,stale,acc.mean,acc.std,acc.n,loss.final.mean,loss.final.std,loss.final.n\n\
             train,1,2,0,{},{},2,0.75,{},2\n\
             train,2,2,0,{},{},2,1,{},2\n",
            (0.8 + 0.6) / 2.0,
            std(0.8, 0.6),
            std(0.25, 1.25),
            (0.9 + 0.7) / 2.0,
            std(0.9, 0.7),
            std(0.5, 1.5),
        )
    );
    let stderr = failed(&project, &["metrics", "--by", "amount"], 2);
    assert_mentions(&stderr, &["no selected node has it (axes: gen, rep)"]);
}

#[test]
fn stale_and_never_run_nodes_are_marked_and_nothing_runs() {
    let project = grid();
    project.run(&[]).assert_ok();
    project.write("scores/gan-2.txt", "0.95 0.4");
    project.edit_pipeline("rep: [1, 2]", "rep: [1, 2, 3]");
    project.write("scores/gan-3.txt", "0.5 0.5");
    project.write("scores/ddpm-3.txt", "0.5 0.5");
    assert_eq!(
        stdout(&project, &["metrics", "--stage", "train"]),
        "\
node          gen   rep     acc  device  loss.final  state
------------  ----  ---  ------  ------  ----------  -------
train@gan-1   gan     1  0.8000  cpu         0.2500  ok
train@gan-2   gan     2  0.9000  cpu         0.5000  stale
train@gan-3   gan     3       -  -                -  not run
train@ddpm-1  ddpm    1  0.6000  cpu         1.2500  ok
train@ddpm-2  ddpm    2  0.7000  cpu         1.5000  ok
train@ddpm-3  ddpm    3       -  -                -  not run
"
    );
    // Only the store was read: the stale node's metrics file is untouched.
    assert!(project.read("m/gan-2.json").contains("\"acc\": 0.9,"));
    assert!(!project.path("m/gan-3.json").exists());
    let run = project.run(&[]);
    run.assert_ok();
    assert_eq!(
        run.executed(),
        names(&["train@gan-2", "train@gan-3", "train@ddpm-3"])
    );
}
