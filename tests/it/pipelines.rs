//! Every example pipeline under `pipelines/` parses and validates.

use augflow::graph::build;
use augflow::kinds::Registry;
use augflow::spec::parse_file;

use crate::common::{example_pipelines, schema};

#[test]
fn every_example_pipeline_is_valid() {
    for path in example_pipelines(2) {
        let parsed = parse_file(&path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let graph = build(parsed, &Registry::builtin())
            .unwrap_or_else(|e| panic!("{}: {:?}", path.display(), miette::Report::new(e)));
        assert!(!graph.order.is_empty(), "{} has no nodes", path.display());
    }
}

#[test]
fn schema_describes_the_pipeline_format() {
    let schema = schema();
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
