//! Gathering inputs: `inputs: {scores: score@*.scores}` connects every node of the matrix
//! stage `score`. Before validation the reference is replaced by one input per node, named
//! `scores[axis=value,…]` (axes in declared order), so keys, edges and materialisation
//! treat each like any other input, and adding a matrix value adds exactly one input.

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::spec::{Action, InputRef, Located, NodeSpec, Value, render_scalar};

/// The suffix of a stage name that gathers all its nodes.
pub const GATHER_SUFFIX: &str = "@*";

/// A stage's nodes: (node name, matrix axis values).
type Members = Vec<(String, IndexMap<String, Value>)>;

/// Expands every `<stage>@*` input reference into one input per node of that stage.
pub(super) fn expand_gathers(nodes: &mut [NodeSpec]) {
    // Stage → its nodes (name, matrix values), in declared order.
    let mut groups: HashMap<String, Members> = HashMap::new();
    for node in nodes.iter() {
        groups
            .entry(node.stage.clone())
            .or_default()
            .push((node.name.clone(), node.matrix.clone()));
    }
    for node in nodes.iter_mut() {
        let Action::Typed(typed) = &mut node.action else {
            continue;
        };
        let wanted: Vec<String> = typed
            .inputs
            .iter()
            .filter(|(_, r)| r.value.node.ends_with(GATHER_SUFFIX))
            .map(|(name, _)| name.clone())
            .collect();
        for name in wanted {
            let Some(reference) = typed.inputs.get(&name) else {
                continue;
            };
            let stage = reference.value.node.trim_end_matches(GATHER_SUFFIX);
            // An unknown stage stays as written: validation reports it as dangling.
            let Some(members) = groups.get(stage) else {
                continue;
            };
            let Some(reference) = typed.inputs.remove(&name) else {
                continue;
            };
            for (member, axes) in members {
                typed.inputs.insert(
                    gather_name(&name, axes),
                    Located {
                        value: InputRef {
                            node: member.clone(),
                            output: reference.value.output.clone(),
                        },
                        loc: reference.loc,
                    },
                );
            }
        }
    }
}

/// `port[axis=value,…]`.
pub fn gather_name(port: &str, axes: &IndexMap<String, Value>) -> String {
    let parts: Vec<String> = axes
        .iter()
        .map(|(axis, value)| {
            format!(
                "{axis}={}",
                render_scalar(value).unwrap_or_else(|| value.to_string())
            )
        })
        .collect();
    format!("{port}[{}]", parts.join(","))
}

/// Splits an input name into its port and, for a gathered input, its axis values. Axis
/// values are plain scalars (letters, digits, `.`, `_`, `+`, `-`), so `,` `=` `]` never
/// occur inside them.
pub fn split_gather_name(name: &str) -> (&str, Option<Vec<(String, String)>>) {
    let Some((port, rest)) = name.split_once('[') else {
        return (name, None);
    };
    let inner = rest.strip_suffix(']').unwrap_or(rest);
    let axes = inner
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((axis, value)) => (axis.to_owned(), value.to_owned()),
            None => (part.to_owned(), String::new()),
        })
        .collect();
    (port, Some(axes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let mut axes = IndexMap::new();
        axes.insert("generator".to_owned(), Value::from("ddpm"));
        axes.insert("amount".to_owned(), Value::from(250));
        let name = gather_name("scores", &axes);
        assert_eq!(name, "scores[generator=ddpm,amount=250]");
        let (port, parsed) = split_gather_name(&name);
        assert_eq!(port, "scores");
        assert_eq!(
            parsed.unwrap(),
            [
                ("generator".to_owned(), "ddpm".to_owned()),
                ("amount".to_owned(), "250".to_owned())
            ]
        );
        assert_eq!(split_gather_name("model"), ("model", None));
        assert_eq!(split_gather_name("base[]"), ("base", Some(vec![])));
    }
}
