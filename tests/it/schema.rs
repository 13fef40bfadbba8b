//! `augflow schema` knows every kind: each example pipeline validates against it with a
//! JSON Schema validator, and a wrong param or input is reported at its place.

use std::path::Path;

use augflow::kinds::Registry;
use serde_json::{Value, json};

use crate::common::{example_pipelines, schema};

fn parse(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read example pipeline");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn example(name: &str) -> Value {
    parse(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("pipelines")
            .join(name),
    )
}

/// Every error as `<instance path>: <message>`. The schema says draft 2020-12; what it
/// uses (`$ref`s into `$defs`, `if`/`then`, `const`, `anyOf`) means the same in draft 7.
fn errors(schema: &Value, pipeline: &Value) -> Vec<String> {
    let draft = Some(jsonschema_valid::schemas::Draft::Draft7);
    let config = jsonschema_valid::Config::from_schema(schema, draft).expect("a valid schema");
    match config.validate(pipeline) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .map(|error| {
                let path: Vec<&str> = error
                    .instance_path
                    .iter()
                    .rev()
                    .map(String::as_str)
                    .collect();
                format!("/{}: {}", path.join("/"), error.msg)
            })
            .collect(),
    }
}

/// Fails unless one of `found` is at `path` (or below it) and mentions `needle`.
#[track_caller]
fn assert_reported(found: &[String], path: &str, needle: &str) {
    assert!(
        found
            .iter()
            .any(|e| e.starts_with(path) && e.contains(needle)),
        "no error at {path} mentions {needle:?}: {found:#?}"
    );
}

#[test]
fn every_example_pipeline_validates_against_the_schema() {
    let schema = schema();
    for path in example_pipelines(7) {
        let found = errors(&schema, &parse(&path));
        assert!(
            found.is_empty(),
            "{}:\n{}",
            path.display(),
            found.join("\n")
        );
    }
}

#[test]
fn kind_is_an_enum_of_the_registered_kinds() {
    let schema = schema();
    let listed: Vec<&str> = schema["$defs"]["RawStage"]["properties"]["kind"]["enum"]
        .as_array()
        .expect("an enum of kinds")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let registered: Vec<&str> = Registry::builtin().names().collect();
    assert_eq!(listed, registered);
}

#[test]
fn a_wrong_param_or_input_is_reported_where_it_is() {
    let schema = schema();
    let mut pipeline = example("quickstart.yaml");
    assert!(errors(&schema, &pipeline).is_empty());

    // An unknown param of `dataset.phantom` (a typo of `size`).
    pipeline["stages"]["data"]["params"]["sise"] = json!(64);
    assert_reported(&errors(&schema, &pipeline), "/stages/data/params", "sise");

    // A param of the wrong type, and one outside its range.
    let mut pipeline = example("quickstart.yaml");
    pipeline["stages"]["data"]["params"]["images_per_patient"] = json!("two");
    pipeline["stages"]["data"]["params"]["size"] = json!(1000);
    let found = errors(&schema, &pipeline);
    for param in ["images_per_patient", "size"] {
        assert_reported(&found, &format!("/stages/data/params/{param}"), "");
    }

    // An input the kind does not have, and a missing required one.
    let mut pipeline = example("quickstart.yaml");
    let inputs = &mut pipeline["stages"]["split"]["inputs"];
    inputs["imagez"] = inputs["images"].take();
    if let Some(object) = inputs.as_object_mut() {
        object.remove("images");
    }
    let found = errors(&schema, &pipeline);
    assert_reported(&found, "/stages/split/inputs", "imagez");
    assert_reported(&found, "/stages/split/inputs", "\"images\"");
}
