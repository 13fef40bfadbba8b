//! Finds each dependency cycle and spells it out as a path (`a → b → c → a`).

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// One cycle per strongly connected component that has one, as a closed list of nodes.
pub fn find_cycles<N, E>(graph: &DiGraph<N, E>) -> Vec<Vec<NodeIndex>> {
    let mut cycles = Vec::new();
    for component in tarjan_scc(graph) {
        let first = component[0];
        if component.len() == 1 && graph.find_edge(first, first).is_none() {
            continue;
        }
        let mut members = component.clone();
        members.sort();
        if let Some(path) = path_back_to(graph, members[0], &members) {
            cycles.push(path);
        }
    }
    cycles.sort();
    cycles
}

/// Depth-first search inside the component for a path from `start` back to itself.
fn path_back_to<N, E>(
    graph: &DiGraph<N, E>,
    start: NodeIndex,
    members: &[NodeIndex],
) -> Option<Vec<NodeIndex>> {
    let mut path = vec![start];
    let mut visited = vec![start];
    let mut stack: Vec<Vec<NodeIndex>> = vec![successors(graph, start, members)];
    while let Some(frontier) = stack.last_mut() {
        let Some(next) = frontier.pop() else {
            stack.pop();
            path.pop();
            continue;
        };
        if next == start {
            path.push(start);
            return Some(path);
        }
        if visited.contains(&next) {
            continue;
        }
        visited.push(next);
        path.push(next);
        stack.push(successors(graph, next, members));
    }
    None
}

fn successors<N, E>(
    graph: &DiGraph<N, E>,
    node: NodeIndex,
    members: &[NodeIndex],
) -> Vec<NodeIndex> {
    let mut next: Vec<NodeIndex> = graph
        .neighbors(node)
        .filter(|n| members.binary_search(n).is_ok())
        .collect();
    // Reverse-sorted so `pop` tries the lowest index first: stable, readable messages.
    next.sort_by(|a, b| b.cmp(a));
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_cycle_as_a_closed_path() {
        let mut graph: DiGraph<&str, ()> = DiGraph::new();
        let a = graph.add_node("a");
        let b = graph.add_node("b");
        let c = graph.add_node("c");
        let d = graph.add_node("d");
        graph.add_edge(a, b, ());
        graph.add_edge(b, c, ());
        graph.add_edge(c, a, ());
        graph.add_edge(d, d, ());
        graph.add_edge(c, d, ());
        let cycles = find_cycles(&graph);
        assert_eq!(cycles, vec![vec![a, b, c, a], vec![d, d]]);
    }

    #[test]
    fn acyclic_graph_has_none() {
        let mut graph: DiGraph<(), ()> = DiGraph::new();
        let a = graph.add_node(());
        let b = graph.add_node(());
        graph.add_edge(a, b, ());
        assert!(find_cycles(&graph).is_empty());
    }
}
