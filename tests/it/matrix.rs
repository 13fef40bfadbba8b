//! Matrix stages: expansion into predictably named nodes, and per-value reruns.

use crate::common::{TestProject, names};

const GRID: &str = r#"
stages:
  cell:
    matrix:
      generator: [gan, ddpm]
      amount: [100, 250]
      repeat: [1, 2, 3]
    cmd: "echo ${generator} ${amount} ${repeat} > cells/${generator}-${amount}-${repeat}.txt"
    outs: ["cells/${generator}-${amount}-${repeat}.txt"]
  collect:
    matrix:
      generator: [gan, ddpm]
    cmd: "cat cells/${generator}-* > ${generator}.txt"
    deps: [cells]
    outs: ["${generator}.txt"]
"#;

/// A project for `pipeline`, whose cells write into `cells/` (which must exist).
fn with_cells_folder(pipeline: &str) -> TestProject {
    let project = TestProject::new(pipeline);
    std::fs::create_dir_all(project.path("cells")).expect("mkdir cells");
    project
}

fn cells(generators: &[&str], amounts: &[&str], repeats: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for g in generators {
        for a in amounts {
            for r in repeats {
                out.push(format!("cell@{g}-{a}-{r}"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn three_axes_expand_and_one_edited_value_reruns_only_its_nodes() {
    let project = with_cells_folder(GRID);
    let first = project.run(&[]);
    first.assert_ok();
    let mut expected = cells(&["gan", "ddpm"], &["100", "250"], &["1", "2", "3"]);
    expected.extend(names(&["collect@gan", "collect@ddpm"]));
    expected.sort();
    assert_eq!(first.executed(), expected);
    assert_eq!(project.read("cells/ddpm-250-3.txt"), "ddpm 250 3\n");

    let dag = project.augflow(&["dag"]);
    assert!(String::from_utf8_lossy(&dag.stdout).contains("collect@gan [cmd]"));

    project.edit_pipeline("amount: [100, 250]", "amount: [100, 500]");
    let edited = project.run(&[]);
    edited.assert_ok();
    let mut expected = cells(&["gan", "ddpm"], &["500"], &["1", "2", "3"]);
    // `collect` reads the whole `cells` folder, which now holds new files.
    expected.extend(names(&["collect@gan", "collect@ddpm"]));
    expected.sort();
    assert_eq!(edited.executed(), expected);
    assert_eq!(
        edited.with_status("cached"),
        cells(&["gan", "ddpm"], &["100"], &["1", "2", "3"])
    );
}

const PAIRED: &str = r#"
stages:
  cell:
    matrix:
      classifier: [resnet50, convnext_tiny]
      repeat: [1, 2]
      include:
        - {lr: 0.002}
        - {classifier: convnext_tiny, lr: 0.001}
    cmd: "echo ${classifier} ${repeat} ${lr} > cells/${classifier}-${repeat}.txt"
    outs: ["cells/${classifier}-${repeat}.txt"]
"#;

#[test]
fn include_pairs_a_value_with_an_axis_value_without_multiplying_the_grid() {
    let project = with_cells_folder(PAIRED);
    project.run(&[]).assert_ok().assert_executed(&[
        "cell@convnext_tiny-1",
        "cell@convnext_tiny-2",
        "cell@resnet50-1",
        "cell@resnet50-2",
    ]);
    assert_eq!(project.read("cells/resnet50-2.txt"), "resnet50 2 0.002\n");
    assert_eq!(
        project.read("cells/convnext_tiny-1.txt"),
        "convnext_tiny 1 0.001\n",
        "the later entry overrides the earlier one"
    );

    project.edit_pipeline("lr: 0.001}", "lr: 0.0015}");
    project
        .run(&[])
        .assert_ok()
        .assert_executed(&["cell@convnext_tiny-1", "cell@convnext_tiny-2"])
        .assert_status("cached", &["cell@resnet50-1", "cell@resnet50-2"]);
}
