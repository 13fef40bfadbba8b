//! Builds the graph from the expanded nodes and runs every whole-pipeline check:
//! kinds, params, typed references and their types, output paths, cycles.

use std::collections::{BTreeMap, HashMap, HashSet};

use petgraph::graph::{DiGraph, NodeIndex};

use super::cycles::find_cycles;
use super::gather::expand_gathers;
use super::typed::{Lookup, check_typed};
use super::{EdgeKind, PipelineGraph};
use crate::kinds::Registry;
use crate::project::CONFIG_FILE;
use crate::spec::{
    Action, Diagnostics, Loc, NodeSpec, Parsed, Pipeline, RelPath, SpecErrors, reserved_output,
};

/// Folder (relative to the pipeline file) where typed outputs are materialised:
/// `<OUT_DIR>/<node>/<output>`.
pub const OUT_DIR: &str = ".augflow/out";

pub fn typed_output_path(node: &str, output: &str) -> RelPath {
    // Node and output names are validated to be plain path components.
    RelPath::parse(&format!("{OUT_DIR}/{node}/{output}"))
        .unwrap_or_else(|_| unreachable_path(node, output))
}

fn unreachable_path(node: &str, output: &str) -> RelPath {
    // Only reachable if validation let through an empty name; keep a distinct path anyway.
    RelPath::parse(&format!(
        "{OUT_DIR}/_invalid_{}_{}",
        node.len(),
        output.len()
    ))
    .unwrap_or_else(|_| unreachable!("a constant relative path parses"))
}

/// Validates the parsed pipeline against the registry and builds its graph, or returns
/// every problem found (including those found while parsing).
pub fn build(parsed: Parsed, registry: &Registry) -> Result<PipelineGraph, SpecErrors> {
    let Parsed {
        mut pipeline,
        broken,
        mut diagnostics,
    } = parsed;
    let broken: HashSet<String> = broken.into_iter().collect();
    expand_gathers(&mut pipeline.nodes);
    let mut graph: DiGraph<usize, EdgeKind> = DiGraph::with_capacity(pipeline.nodes.len(), 0);
    let mut index: HashMap<String, NodeIndex> = HashMap::with_capacity(pipeline.nodes.len());
    for (i, node) in pipeline.nodes.iter().enumerate() {
        index.insert(node.name.clone(), graph.add_node(i));
    }

    check_reserved_outputs(&pipeline, &mut diagnostics);
    let producers = collect_outputs(&pipeline.nodes, registry, &mut diagnostics);
    let lookup = Lookup {
        nodes: &pipeline.nodes,
        index: &index,
        broken: &broken,
        registry,
    };
    let mut typed_nodes = Vec::with_capacity(pipeline.nodes.len());
    for (i, node) in pipeline.nodes.iter().enumerate() {
        let to = NodeIndex::new(i);
        match &node.action {
            Action::Typed(_) => {
                let checked = check_typed(node, &lookup, &mut diagnostics);
                for (from, edge) in checked.edges {
                    graph.add_edge(from, to, edge);
                }
                for path in checked.paths.values() {
                    for producer in producers.producers_of(path) {
                        if producer != i {
                            let from = NodeIndex::new(producer);
                            graph.add_edge(from, to, EdgeKind::Path(path.clone()));
                        }
                    }
                }
                typed_nodes.push(checked.node);
            }
            Action::Shell(shell) => {
                for dep in &shell.deps {
                    for producer in producers.producers_of(&dep.value) {
                        if producer != i {
                            let from = NodeIndex::new(producer);
                            graph.add_edge(from, to, EdgeKind::Path(dep.value.clone()));
                        }
                    }
                }
                typed_nodes.push(None);
            }
        }
    }

    for cycle in find_cycles(&graph) {
        let names: Vec<&str> = cycle
            .iter()
            .map(|&n| pipeline.nodes[graph[n]].name.as_str())
            .collect();
        let first = &pipeline.nodes[graph[cycle[0]]];
        diagnostics.push_with_help(
            first.loc,
            format!("break the dependency cycle {}", names.join(" → ")),
            "this stage is part of a cycle",
            Some("a stage cannot depend, directly or not, on its own outputs"),
        );
    }

    diagnostics.finish()?;
    let order = stable_topological_order(&graph);
    Ok(PipelineGraph {
        pipeline,
        graph,
        order,
        index,
        typed: typed_nodes,
    })
}

/// Every output path with its producer, checked for duplicates and nesting.
struct OutputPaths {
    by_path: BTreeMap<RelPath, (usize, Loc)>,
}

impl OutputPaths {
    /// Producers of `dep`: outputs equal to it or containing it, and outputs inside it.
    fn producers_of(&self, dep: &RelPath) -> Vec<usize> {
        let mut found: Vec<usize> = ancestors_or_self(dep)
            .filter_map(|p| self.by_path.get(&p).map(|(node, _)| *node))
            .collect();
        let prefix = format!("{}/", dep.as_str());
        found.extend(
            self.by_path
                .iter()
                .skip_while(|(path, _)| path.as_str() < prefix.as_str())
                .take_while(|(path, _)| path.as_str().starts_with(&prefix))
                .map(|(_, (node, _))| *node),
        );
        found.sort_unstable();
        found.dedup();
        found
    }
}

fn ancestors_or_self(path: &RelPath) -> impl Iterator<Item = RelPath> + '_ {
    let text = path.as_str();
    text.match_indices('/')
        .map(move |(i, _)| &text[..i])
        .chain(std::iter::once(text))
        .filter_map(|p| RelPath::parse(p).ok())
}

/// Shell outputs may not be git's files, augflow's state or the pipeline's own files: a
/// pipeline from someone else's branch must not be able to plant a hook by `pull`.
fn check_reserved_outputs(pipeline: &Pipeline, diags: &mut Diagnostics) {
    let pipeline_file = pipeline
        .file
        .strip_prefix(&pipeline.root)
        .ok()
        .and_then(|p| p.to_str())
        .unwrap_or_default();
    let protected = [pipeline_file, CONFIG_FILE];
    for node in &pipeline.nodes {
        let Action::Shell(shell) = &node.action else {
            continue;
        };
        for out in &shell.outs {
            if let Some(why) = reserved_output(&out.value, &protected) {
                diags.push(
                    out.loc,
                    format!(
                        "move output `{}` of stage `{}` elsewhere: {why}",
                        out.value, node.name
                    ),
                    "reserved path",
                );
            }
        }
    }
}

fn collect_outputs(
    nodes: &[NodeSpec],
    registry: &Registry,
    diags: &mut Diagnostics,
) -> OutputPaths {
    let mut all: Vec<(RelPath, usize, Loc)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        match &node.action {
            Action::Shell(shell) => {
                all.extend(shell.outs.iter().map(|out| (out.value.clone(), i, out.loc)));
            }
            Action::Typed(typed) => {
                if let Some(kind) = registry.get(&typed.kind) {
                    for port in kind.spec().outputs {
                        all.push((typed_output_path(&node.name, port.name), i, typed.kind_loc));
                    }
                }
            }
        }
    }
    let mut by_path: BTreeMap<RelPath, (usize, Loc)> = BTreeMap::new();
    for (path, node, loc) in all {
        if let Some((other, _)) = by_path.get(&path) {
            diags.push(
                loc,
                format!(
                    "declare output `{path}` in one stage only: `{}` writes it too",
                    nodes[*other].name
                ),
                "duplicate output path",
            );
            continue;
        }
        by_path.insert(path, (node, loc));
    }
    for (path, (node, loc)) in &by_path {
        for ancestor in ancestors_or_self(path).filter(|a| a != path) {
            if let Some((other, _)) = by_path.get(&ancestor) {
                diags.push(
                    *loc,
                    format!(
                        "move output `{path}` out of `{ancestor}`, which `{}` writes",
                        nodes[*other].name
                    ),
                    if *other == *node {
                        "nested output"
                    } else {
                        "overlapping output"
                    },
                );
            }
        }
    }
    OutputPaths { by_path }
}

/// Kahn's algorithm taking the earliest-declared ready node first, so runs and listings
/// follow the pipeline file's order wherever dependencies allow.
fn stable_topological_order(graph: &DiGraph<usize, EdgeKind>) -> Vec<NodeIndex> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut waiting: Vec<usize> = graph
        .node_indices()
        .map(|n| {
            graph
                .neighbors_directed(n, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BinaryHeap<Reverse<NodeIndex>> = graph
        .node_indices()
        .filter(|n| waiting[n.index()] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(graph.node_count());
    while let Some(Reverse(next)) = ready.pop() {
        order.push(next);
        for dependent in graph.neighbors_directed(next, petgraph::Direction::Outgoing) {
            waiting[dependent.index()] -= 1;
            if waiting[dependent.index()] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    order
}
