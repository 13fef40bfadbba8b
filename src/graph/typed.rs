//! The checks of one typed node: its kind, params (parsed and validated once, here),
//! inputs and their types, and path params. What passes is kept on the graph as a
//! [`TypedNode`].

use std::collections::{BTreeMap, HashMap, HashSet};

use petgraph::graph::NodeIndex;

use super::gather::split_gather_name;
use super::{EdgeKind, TypedNode};
use crate::kinds::{ConfiguredKind, KindSpec, Registry, path_params_of};
use crate::spec::{Action, Diagnostics, NodeSpec, RelPath, TypedAction};

/// What the check of one typed node found.
pub(super) struct CheckedTyped {
    /// Edges from the producers of its typed inputs.
    pub edges: Vec<(NodeIndex, EdgeKind)>,
    /// Its path params (empty when they are invalid: reported).
    pub paths: BTreeMap<String, RelPath>,
    /// The node, when its kind, params, path params and seed all passed.
    pub node: Option<TypedNode>,
}

/// What a typed node's check looks up: the other nodes and the kinds.
pub(super) struct Lookup<'a> {
    pub nodes: &'a [NodeSpec],
    pub index: &'a HashMap<String, NodeIndex>,
    /// Nodes whose spec had errors: references to them are not checked further.
    pub broken: &'a HashSet<String>,
    pub registry: &'a Registry,
}

/// Checks one typed node's kind, params (parsing them, the one time), inputs and path
/// params.
pub(super) fn check_typed(
    node: &NodeSpec,
    lookup: &Lookup<'_>,
    diags: &mut Diagnostics,
) -> CheckedTyped {
    let mut checked = CheckedTyped {
        edges: Vec::new(),
        paths: BTreeMap::new(),
        node: None,
    };
    let Action::Typed(typed) = &node.action else {
        return checked;
    };
    let Some(kind) = lookup.registry.get(&typed.kind) else {
        let known: Vec<&str> = lookup.registry.names().collect();
        diags.push_with_help(
            typed.kind_loc,
            format!("use a known stage kind: `{}` is not one", typed.kind),
            "unknown kind",
            Some(format!("known kinds: {}", known.join(", "))),
        );
        return checked;
    };
    let configured = match kind.configure(&typed.params) {
        Ok(configured) => Some(configured),
        Err(message) => {
            diags.push(
                typed.params_loc,
                format!("use valid params for `{}`: {message}", typed.kind),
                "in these params",
            );
            None
        }
    };
    let connected: Vec<&str> = typed
        .inputs
        .keys()
        .map(|name| split_gather_name(name).0)
        .collect();
    if let Some(Err(message)) = configured.as_ref().map(|c| c.check_inputs(&connected)) {
        diags.push(
            typed.kind_loc,
            format!("fix the inputs of `{}`: {message}", typed.kind),
            "these inputs",
        );
    }
    checked.edges = input_edges(typed, kind.spec(), configured.as_deref(), lookup, diags);
    let paths = match path_params_of(kind, &typed.params) {
        Ok(paths) => Some(paths),
        Err(message) => {
            diags.push(typed.params_loc, message, "in these params");
            None
        }
    };
    if let (Some(kind), Some(paths), Some(seed)) = (configured, &paths, node.seed) {
        checked.node = Some(TypedNode {
            kind,
            paths: paths.clone(),
            seed,
        });
    }
    checked.paths = paths.unwrap_or_default();
    checked
}

/// Checks the node's input ports and references; returns its incoming edges.
fn input_edges(
    typed: &TypedAction,
    spec: &KindSpec,
    configured: Option<&dyn ConfiguredKind>,
    lookup: &Lookup<'_>,
    diags: &mut Diagnostics,
) -> Vec<(NodeIndex, EdgeKind)> {
    let mut edges = Vec::new();
    for port in spec.inputs {
        let connected = typed
            .inputs
            .keys()
            .any(|name| split_gather_name(name).0 == port.name);
        if !connected && !spec.optional_inputs.contains(&port.name) {
            diags.push(
                typed.kind_loc,
                format!(
                    "give `{}` its input `{}` ({})",
                    typed.kind, port.name, port.ty
                ),
                "missing input",
            );
        }
    }
    for (name, reference) in &typed.inputs {
        let (port_name, axes) = split_gather_name(name);
        if axes.is_some() && !spec.gather_inputs.contains(&port_name) {
            diags.push_with_help(
                reference.loc,
                format!(
                    "connect one artifact to input `{port_name}`: `{}` does not gather `@*` references",
                    typed.kind
                ),
                "gathers many nodes",
                Some(format!("name one node instead, e.g. `{}.{}`", reference.value.node, reference.value.output)),
            );
            continue;
        }
        let Some(port) = spec.inputs.iter().find(|p| p.name == port_name) else {
            let expected: Vec<&str> = spec.inputs.iter().map(|p| p.name).collect();
            diags.push_with_help(
                reference.loc,
                format!(
                    "remove input `{name}`: `{}` takes no such input",
                    typed.kind
                ),
                "unknown input",
                Some(format!(
                    "its inputs: {}",
                    if expected.is_empty() {
                        "none".to_owned()
                    } else {
                        expected.join(", ")
                    }
                )),
            );
            continue;
        };
        let target = &reference.value;
        if lookup.broken.contains(&target.node) {
            continue;
        }
        let Some(&from) = lookup.index.get(&target.node) else {
            diags.push(
                reference.loc,
                format!(
                    "resolve input `{name}`: no stage or node is named `{}`",
                    target.node
                ),
                "dangling reference",
            );
            continue;
        };
        let producer = &lookup.nodes[from.index()];
        let Action::Typed(producer_action) = &producer.action else {
            diags.push_with_help(
                reference.loc,
                format!("resolve input `{name}`: `{}` is a shell stage, which has no typed outputs", target.node),
                "not a typed stage",
                Some("a shell stage can read a typed output instead, by listing `.augflow/out/<node>/<output>` in its deps"),
            );
            continue;
        };
        let Some(producer_kind) = lookup.registry.get(&producer_action.kind) else {
            continue;
        };
        let Some(out) = producer_kind
            .spec()
            .outputs
            .iter()
            .find(|p| p.name == target.output)
        else {
            let outputs: Vec<&str> = producer_kind
                .spec()
                .outputs
                .iter()
                .map(|p| p.name)
                .collect();
            diags.push_with_help(
                reference.loc,
                format!(
                    "resolve input `{name}`: `{}` has no output `{}`",
                    target.node, target.output
                ),
                "dangling reference",
                Some(format!(
                    "outputs of `{}`: {}",
                    producer_action.kind,
                    outputs.join(", ")
                )),
            );
            continue;
        };
        if out.ty != port.ty {
            diags.push(
                reference.loc,
                format!(
                    "connect matching types: input `{name}` of `{}` takes {}, but `{target}` is {}",
                    typed.kind, port.ty, out.ty
                ),
                "type mismatch",
            );
            continue;
        }
        if let Some(Err((param, message))) =
            configured.map(|c| c.check_upstream(port_name, &producer_action.kind))
        {
            let loc = typed.param_locs.get(&param).copied();
            diags.push(
                loc.unwrap_or(typed.params_loc),
                format!("use params that apply to `{}`: {message}", target.node),
                "does not apply here",
            );
        }
        edges.push((
            from,
            EdgeKind::Input {
                name: name.clone(),
                output: target.output.clone(),
            },
        ));
    }
    edges
}
