//! `augflow dag` output: an indented text listing and Graphviz dot.

use std::fmt::Write;

use super::{EdgeKind, PipelineGraph};

pub fn to_text(graph: &PipelineGraph) -> String {
    let mut out = String::new();
    for &index in &graph.order {
        let node = graph.node(index);
        let _ = writeln!(out, "{} [{}]", node.name, node.kind_label());
        for (dep, edge) in graph.dependencies(index) {
            let via = match edge {
                EdgeKind::Input { name, output } => format!("{name} ← .{output}"),
                EdgeKind::Path(path) => path.to_string(),
            };
            let _ = writeln!(out, "  ← {} ({via})", graph.node(dep).name);
        }
    }
    out
}

pub fn to_dot(graph: &PipelineGraph) -> String {
    let mut out = String::from("digraph augflow {\n  rankdir=LR;\n  node [shape=box];\n");
    for &index in &graph.order {
        let node = graph.node(index);
        let _ = writeln!(
            out,
            "  {:?} [label={:?}];",
            node.name,
            format!("{}\n{}", node.name, node.kind_label())
        );
    }
    for &index in &graph.order {
        for (dep, edge) in graph.dependencies(index) {
            let label = match edge {
                EdgeKind::Input { name, .. } => name.clone(),
                EdgeKind::Path(path) => path.to_string(),
            };
            let _ = writeln!(
                out,
                "  {:?} -> {:?} [label={:?}];",
                graph.node(dep).name,
                graph.node(index).name,
                label
            );
        }
    }
    out.push_str("}\n");
    out
}
