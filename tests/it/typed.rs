//! Typed stages end to end: phantom data → summary, determinism, outputs by stage name.

use crate::common::{TestProject, output_digests, phantom_and_summary};

/// Phantom data and its summary, and shell stages reading each of them.
fn pipeline() -> String {
    phantom_and_summary(11, "healthy: 5, bacterial: 3, viral: 2")
        + r#"  count:
    cmd: "ls .augflow/out/data/images/images/bacterial | wc -l > count.txt"
    deps: [.augflow/out/data/images]
    outs: [count.txt]
  report:
    cmd: "grep -c bacterial .augflow/out/summary/metrics/metrics.json > report.txt"
    deps: [.augflow/out/summary/metrics]
    outs: [report.txt]
"#
}

#[test]
fn phantom_and_summary_run_cache_and_are_deterministic() {
    let a = TestProject::new(&pipeline());
    a.run(&[])
        .assert_ok()
        .assert_executed(&["data", "summary", "count", "report"]);
    assert_eq!(a.read("count.txt").trim(), "3");
    let metrics: serde_json::Value =
        serde_json::from_str(&a.read(".augflow/out/summary/metrics/metrics.json")).unwrap();
    assert_eq!(metrics["images"], 10);
    assert_eq!(metrics["classes"]["viral"], 2);
    assert!(a.run(&[]).executed().is_empty());

    // Same spec, fresh project and store: byte-identical outputs.
    let b = TestProject::new(&pipeline());
    b.run(&[]).assert_ok();
    assert_eq!(output_digests(&a, "data"), output_digests(&b, "data"));

    // Another seed: new images; the summary has the same counts, so what reads only the
    // summary is cut off early.
    a.edit_pipeline("seed: 11", "seed: 12");
    a.run(&[])
        .assert_ok()
        .assert_executed(&["data", "summary", "count"])
        .assert_status("cached", &["report"]);
    assert_ne!(output_digests(&a, "data"), output_digests(&b, "data"));
}

#[test]
fn show_prints_outputs_and_metrics() {
    let project = TestProject::new(&pipeline());
    project.run(&[]).assert_ok();
    let show = project.augflow(&["show", "summary"]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains(".augflow/out/summary/metrics"), "{text}");
    assert!(text.contains("\"bacterial\": 3"), "{text}");
}
