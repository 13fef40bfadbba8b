//! `matrix: {…, include: [{classifier: convnext_tiny, lr: 0.001}]}`: variables attached to
//! the combinations an entry selects, as GitHub Actions' `include`. Keys that name an axis
//! select combinations by value; the other keys are variables those nodes can use as
//! `${name}`. Variables are not part of node names (the axes already tell the nodes
//! apart), so pairing a value with an axis value does not multiply the grid.

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::diagnostic::{Diagnostics, Loc};
use super::model::Value;
use super::raw::{RawStage, RawValue};

/// The matrix key that holds include entries instead of axis values.
pub const INCLUDE_KEY: &str = "include";

/// One `include` entry: axis values it selects, variables it sets, and where it is.
#[derive(Debug)]
pub struct Include {
    selects: IndexMap<String, Value>,
    sets: IndexMap<String, Value>,
    loc: Loc,
}

/// Checks the `include` entries of a matrix whose axes are `axis_names`: the well-formed
/// entries, and whether all were (the others are reported in `diags`).
fn lower_includes(
    entries: &[Spanned<RawValue>],
    axis_names: &[&str],
    diags: &mut Diagnostics,
    at: &impl Fn(&serde_saphyr::Location) -> Loc,
) -> (Vec<Include>, bool) {
    let mut includes = Vec::new();
    let mut ok = true;
    for entry in entries {
        let loc = at(&entry.referenced);
        let Value::Object(fields) = &entry.value else {
            diags.push_with_help(
                loc,
                "give each matrix `include` entry as a mapping",
                "not a mapping",
                Some("for example `include: [{classifier: convnext_tiny, lr: 0.001}]`"),
            );
            ok = false;
            continue;
        };
        let (selects, sets): (IndexMap<_, _>, IndexMap<_, _>) = fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(key, _)| axis_names.contains(&key.as_str()));
        if sets.is_empty() {
            diags.push_with_help(
                loc,
                "give this matrix `include` entry a variable to set",
                "only axis values here",
                Some("keys naming an axis select combinations; the other keys are variables"),
            );
            ok = false;
            continue;
        }
        includes.push(Include { selects, sets, loc });
    }
    (includes, ok)
}

/// The variables of each combination, in `combos` order: every entry that selects it
/// contributes its variables, a later entry overriding an earlier one. An entry that
/// selects no combination is an error at its line (a misspelt value would otherwise be
/// ignored). None when there was one.
fn apply_includes(
    combos: &[IndexMap<String, Value>],
    includes: &[Include],
    diags: &mut Diagnostics,
) -> Option<Vec<IndexMap<String, Value>>> {
    let mut vars = vec![IndexMap::new(); combos.len()];
    let mut ok = true;
    for include in includes {
        let mut selected = 0usize;
        for (combo, vars) in combos.iter().zip(vars.iter_mut()) {
            if include
                .selects
                .iter()
                .all(|(axis, v)| combo.get(axis) == Some(v))
            {
                vars.extend(include.sets.iter().map(|(k, v)| (k.clone(), v.clone())));
                selected += 1;
            }
        }
        if selected == 0 {
            let wanted: Vec<String> = include
                .selects
                .iter()
                .map(|(axis, v)| format!("{axis}: {v}"))
                .collect();
            diags.push_with_help(
                include.loc,
                format!(
                    "match this matrix `include` entry to a combination: none has {}",
                    wanted.join(", ")
                ),
                "selects no node",
                Some("an entry's axis keys must use values listed on those axes"),
            );
            ok = false;
        }
    }
    ok.then_some(vars)
}

/// The `include` variables of each combination (empty maps without `include`).
pub fn include_vars(
    stage: &RawStage,
    axes: &[(String, Vec<Value>)],
    combos: &[IndexMap<String, Value>],
    diags: &mut Diagnostics,
    at: &impl Fn(&serde_saphyr::Location) -> Loc,
) -> Option<Vec<IndexMap<String, Value>>> {
    let Some(entries) = stage.matrix.get(INCLUDE_KEY) else {
        return Some(vec![IndexMap::new(); combos.len()]);
    };
    let axis_names: Vec<&str> = axes.iter().map(|(name, _)| name.as_str()).collect();
    let (includes, well_formed) = lower_includes(&entries.value, &axis_names, diags, at);
    // Applied even when some entries are malformed, so one run reports every problem.
    let vars = apply_includes(combos, &includes, diags)?;
    well_formed.then_some(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn include(selects: Value, sets: Value) -> Include {
        let map = |v: Value| match v {
            Value::Object(m) => m.into_iter().collect(),
            _ => IndexMap::new(),
        };
        Include {
            selects: map(selects),
            sets: map(sets),
            loc: Loc::default(),
        }
    }

    fn combo(classifier: &str, repeat: u64) -> IndexMap<String, Value> {
        IndexMap::from([
            ("classifier".to_owned(), json!(classifier)),
            ("repeat".to_owned(), json!(repeat)),
        ])
    }

    #[test]
    fn entries_set_variables_on_the_combinations_they_select() {
        let combos = [
            combo("resnet50", 1),
            combo("resnet50", 2),
            combo("convnext_tiny", 1),
            combo("convnext_tiny", 2),
        ];
        let includes = [
            include(json!({}), json!({"lr": 0.002, "epochs": 8})),
            include(json!({"classifier": "convnext_tiny"}), json!({"lr": 0.001})),
        ];
        let mut diags = Diagnostics::new(
            std::path::Path::new("p.yaml"),
            std::sync::Arc::new(String::new()),
        );
        let vars = apply_includes(&combos, &includes, &mut diags).expect("all entries match");
        assert_eq!(vars[1]["lr"], json!(0.002));
        assert_eq!(vars[2]["lr"], json!(0.001), "the later entry wins");
        assert_eq!(vars[3]["epochs"], json!(8));
        assert!(diags.is_empty());
    }

    #[test]
    fn an_entry_selecting_nothing_is_an_error() {
        let combos = [combo("resnet50", 1)];
        let includes = [include(
            json!({"classifier": "convnext_tiy"}),
            json!({"lr": 0.001}),
        )];
        let mut diags = Diagnostics::new(
            std::path::Path::new("p.yaml"),
            std::sync::Arc::new(String::new()),
        );
        assert!(apply_includes(&combos, &includes, &mut diags).is_none());
        assert!(!diags.is_empty());
    }
}
