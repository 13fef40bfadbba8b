//! Typed stages end to end: phantom data → summary, determinism, outputs by stage name.

use crate::common::{TestProject, names};

const PIPELINE: &str = r#"
seed: 11
stages:
  data:
    kind: dataset.phantom
    params:
      size: 32
      classes: {healthy: 5, bacterial: 3, viral: 2}
  summary:
    kind: summary.image_set
    inputs: {images: data.images}
  count:
    cmd: "ls .augflow/out/data/images/images/bacterial | wc -l > count.txt"
    deps: [.augflow/out/data/images]
    outs: [count.txt]
  report:
    cmd: "grep -c bacterial .augflow/out/summary/metrics/metrics.json > report.txt"
    deps: [.augflow/out/summary/metrics]
    outs: [report.txt]
"#;

fn output_digest(project: &TestProject, node: &str) -> String {
    let show = project.augflow(&["show", node, "--json"]);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    value["entry"]["outputs"].to_string()
}

#[test]
fn phantom_and_summary_run_cache_and_are_deterministic() {
    let a = TestProject::new(PIPELINE);
    let first = a.run(&[]);
    first.assert_ok();
    assert_eq!(
        first.executed(),
        names(&["data", "summary", "count", "report"])
    );
    assert_eq!(a.read("count.txt").trim(), "3");
    let metrics: serde_json::Value =
        serde_json::from_str(&a.read(".augflow/out/summary/metrics/metrics.json")).unwrap();
    assert_eq!(metrics["images"], 10);
    assert_eq!(metrics["classes"]["viral"], 2);
    assert!(a.run(&[]).executed().is_empty());

    // Same spec, fresh project and store: byte-identical outputs.
    let b = TestProject::new(PIPELINE);
    b.run(&[]).assert_ok();
    assert_eq!(output_digest(&a, "data"), output_digest(&b, "data"));

    // Another seed: new images; the summary has the same counts, so what reads only the
    // summary is cut off early.
    a.edit_pipeline("seed: 11", "seed: 12");
    let reseeded = a.run(&[]);
    reseeded.assert_ok();
    assert_eq!(reseeded.executed(), names(&["data", "summary", "count"]));
    assert_ne!(output_digest(&a, "data"), output_digest(&b, "data"));
    assert_eq!(reseeded.with_status("cached"), names(&["report"]));
}

#[test]
fn show_prints_outputs_and_metrics() {
    let project = TestProject::new(PIPELINE);
    project.run(&[]).assert_ok();
    let show = project.augflow(&["show", "summary"]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains(".augflow/out/summary/metrics"), "{text}");
    assert!(text.contains("\"bacterial\": 3"), "{text}");
}
