//! Every example pipeline under `pipelines/` parses and validates.

use std::path::Path;

use augflow::graph::build;
use augflow::kinds::Registry;
use augflow::spec::parse_file;

#[test]
fn every_example_pipeline_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("pipelines/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let parsed = parse_file(&path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let graph = build(parsed, &Registry::builtin())
            .unwrap_or_else(|e| panic!("{}: {:?}", path.display(), miette::Report::new(e)));
        assert!(!graph.order.is_empty(), "{} has no nodes", path.display());
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected example pipelines in {}",
        dir.display()
    );
}

#[test]
fn schema_describes_the_pipeline_format() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_augflow"))
        .arg("schema")
        .output()
        .expect("run augflow schema");
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(schema["title"], "augflow pipeline");
    assert!(schema["properties"]["stages"].is_object(), "{schema}");
    let text = schema.to_string();
    for field in ["matrix", "deps", "outs", "inputs", "kind", "cmd"] {
        assert!(
            text.contains(&format!("\"{field}\"")),
            "schema lacks {field}"
        );
    }
}
