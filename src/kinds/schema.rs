//! The pipeline format's JSON Schema with every registered kind (`augflow schema`), so
//! that an editor completes and checks the part users edit most: `kind` is an enum of the
//! registered kinds, and `if kind == … then …` gives the kind's `params` (names, types,
//! defaults, ranges and doc comments, from its config type) and its `inputs` (its ports).

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, json};

use super::{Registry, StageKind};
use crate::spec::Value;

/// Where `$defs` keeps the schema of a `${name}` reference.
const INTERPOLATED: &str = "Interpolated";

/// The schema of `crate::spec::json_schema`, completed with the kinds of `registry`.
pub fn pipeline_schema(registry: &Registry) -> Value {
    let mut schema = crate::spec::json_schema();
    let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12().with(|settings| {
        settings.inline_subschemas = true;
    }));
    let kinds: Vec<&dyn StageKind> = registry.names().filter_map(|n| registry.get(n)).collect();
    if let Some(stage) = schema.pointer_mut("/$defs/RawStage") {
        let names: Vec<&str> = kinds.iter().map(|kind| kind.spec().name).collect();
        stage["properties"]["kind"] = json!({
            "description": "A registered typed stage kind; its params and inputs follow from it.",
            "enum": names,
        });
        let branches: Vec<Value> = kinds
            .iter()
            .map(|kind| kind_branch(*kind, &mut generator))
            .collect();
        stage["allOf"] = Value::Array(branches);
    }
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.insert(
            INTERPOLATED.to_owned(),
            json!({
                "description": "A `${name}` reference to a pipeline param or matrix axis, replaced by its value.",
                "type": "string",
                "pattern": "\\$\\{",
            }),
        );
    }
    schema
}

/// `if kind == <name> then {params, inputs}`.
fn kind_branch(kind: &dyn StageKind, generator: &mut SchemaGenerator) -> Value {
    let spec = kind.spec();
    let mut params = kind.params_schema(generator).to_value();
    interpolable_fields(&mut params);
    json!({
        "if": {"properties": {"kind": {"const": spec.name}}, "required": ["kind"]},
        "then": {"properties": {"params": params, "inputs": inputs_schema(kind)}},
    })
}

/// The kind's input ports: each `<stage>.<output>` of its artifact type; the ports that
/// may stay unconnected are not required.
fn inputs_schema(kind: &dyn StageKind) -> Value {
    let spec = kind.spec();
    let properties: Map<String, Value> = spec
        .inputs
        .iter()
        .map(|port| {
            let mut description = format!("{}: `<stage>.<output>`", port.ty);
            if spec.gather_inputs.contains(&port.name) {
                description.push_str(", or `<stage>@*.<output>` for every node of a matrix stage");
            }
            if spec.optional_inputs.contains(&port.name) {
                description.push_str(" (optional)");
            }
            let schema = json!({"type": "string", "description": description});
            (port.name.to_owned(), schema)
        })
        .collect();
    let required: Vec<&str> = spec
        .inputs
        .iter()
        .map(|port| port.name)
        .filter(|name| !spec.optional_inputs.contains(name))
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// Lets every field, at any depth, be a `${name}` reference instead of its value (the
/// reference is replaced before params are checked). The params object itself stays an
/// object.
fn interpolable_fields(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
        for field in properties.values_mut() {
            interpolable(field);
        }
    }
    for key in ["additionalProperties", "items"] {
        if let Some(field) = object.get_mut(key).filter(|f| f.is_object()) {
            interpolable(field);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(variants) = object.get_mut(key).and_then(Value::as_array_mut) {
            variants.iter_mut().for_each(interpolable_fields);
        }
    }
}

/// `field` or a reference; its description and default stay on the outside, where an
/// editor shows them.
fn interpolable(field: &mut Value) {
    interpolable_fields(field);
    let Some(inner) = field.as_object_mut() else {
        return;
    };
    let mut outer = Map::new();
    for key in ["title", "description", "default"] {
        if let Some(value) = inner.remove(key) {
            outer.insert(key.to_owned(), value);
        }
    }
    let value = Value::Object(std::mem::take(inner));
    outer.insert(
        "anyOf".to_owned(),
        json!([value, {"$ref": format!("#/$defs/{INTERPOLATED}")}]),
    );
    *field = Value::Object(outer);
}
