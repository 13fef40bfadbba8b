//! Data kinds through the engine: a user's folder (a path param, hashed by content) →
//! patient split → summaries.

use crate::common::{TestProject, names};

const PHANTOM: &str = r#"
seed: 3
stages:
  data:
    kind: dataset.phantom
    params: {size: 32, classes: {healthy: 12, bacterial: 8}, images_per_patient: 2}
"#;

const FROM_FOLDER: &str = r#"
seed: 3
stages:
  data:
    kind: dataset.folder
    params:
      root: mydata
      patient_pattern: "^(phantom-[a-z]+-[0-9]+)"
  split:
    kind: split.patient
    params: {train: 0.5, val: 0.25, test: 0.25}
    inputs: {images: data.images}
  test_summary:
    kind: summary.image_set
    inputs: {images: split.test}
"#;

#[test]
fn a_folder_data_set_is_split_by_patient_and_reruns_when_an_image_changes() {
    let source = TestProject::new(PHANTOM);
    source.run(&[]).assert_ok();
    let project = TestProject::new(FROM_FOLDER);
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(source.path(".augflow/out/data/images/images"))
        .arg(project.path("mydata"))
        .status()
        .expect("cp");
    assert!(copied.success());

    let first = project.run(&[]);
    first.assert_ok();
    assert_eq!(first.executed(), names(&["data", "split", "test_summary"]));
    let report: serde_json::Value =
        serde_json::from_str(&project.read(".augflow/out/split/report/metrics.json")).unwrap();
    let patients = |part: &str| report["patients"][part].as_u64().unwrap();
    assert_eq!(patients("train") + patients("val") + patients("test"), 10);
    assert!(project.run(&[]).executed().is_empty());

    // Replace one image's content: the folder's digest changes, everything reruns.
    let dir = project.path("mydata/healthy");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    std::fs::copy(&files[1], &files[0]).unwrap();
    let edited = project.run(&[]);
    edited.assert_ok();
    assert!(
        edited.executed().contains(&"data".to_owned()),
        "{:?}",
        edited.statuses
    );
}

#[test]
fn a_missing_data_folder_fails_the_node_with_its_path() {
    let project = TestProject::new(FROM_FOLDER);
    let result = project.run(&[]);
    assert_eq!(result.code, 1);
    assert_eq!(result.with_status("failed"), names(&["data"]));
}
