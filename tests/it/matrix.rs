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
    let project = TestProject::new(GRID);
    std::fs::create_dir_all(project.path("cells")).unwrap();
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
