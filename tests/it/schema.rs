//! `augflow schema` knows every kind: each example pipeline validates against it with a
//! JSON Schema validator, and a wrong param or input is reported at its place.

use std::path::Path;

use augflow::kinds::Registry;
use serde_json::{Value, json};

fn schema() -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_augflow"))
        .arg("schema")
        .output()
        .expect("run augflow schema");
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("read example pipeline");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

#[test]
fn every_example_pipeline_validates_against_the_schema() {
    let schema = schema();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("pipelines/") {
        let path = entry.expect("entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".yaml") {
            continue;
        }
        let found = errors(&schema, &example(name));
        assert!(found.is_empty(), "{name}:\n{}", found.join("\n"));
        checked += 1;
    }
    assert!(
        checked >= 7,
        "expected the example pipelines in {}",
        dir.display()
    );
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
    let found = errors(&schema, &pipeline);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("/stages/data/params") && e.contains("sise")),
        "{found:#?}"
    );

    // A param of the wrong type, and one outside its range.
    let mut pipeline = example("quickstart.yaml");
    pipeline["stages"]["data"]["params"]["images_per_patient"] = json!("two");
    pipeline["stages"]["data"]["params"]["size"] = json!(1000);
    let found = errors(&schema, &pipeline);
    for param in ["images_per_patient", "size"] {
        assert!(
            found
                .iter()
                .any(|e| e.starts_with(&format!("/stages/data/params/{param}"))),
            "{param}: {found:#?}"
        );
    }

    // An input the kind does not have, and a missing required one.
    let mut pipeline = example("quickstart.yaml");
    let inputs = &mut pipeline["stages"]["split"]["inputs"];
    inputs["imagez"] = inputs["images"].take();
    if let Some(object) = inputs.as_object_mut() {
        object.remove("images");
    }
    let found = errors(&schema, &pipeline);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("/stages/split/inputs") && e.contains("imagez")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("/stages/split/inputs") && e.contains("\"images\"")),
        "{found:#?}"
    );
}
