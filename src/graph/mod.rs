//! The DAG: built from the expanded spec, then validated as a whole. A `PipelineGraph`
//! exists only once every check has passed, so the runner never sees a broken graph.

mod build;
mod cycles;
mod gather;
mod render;
mod typed;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::kinds::{ConfiguredKind, Port};
use crate::spec::{NodeSpec, Pipeline, RelPath};

pub use build::{build, typed_output_path};
pub use gather::{GATHER_SUFFIX, gather_name, split_gather_name};
pub use render::{to_dot, to_text};

/// Why one node depends on another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeKind {
    /// A typed input `name` fed by the producer's output `output`.
    Input { name: String, output: String },
    /// A shell dependency path that the producer writes (or lies inside what it writes).
    Path(RelPath),
}

/// A validated pipeline graph; node weights index `pipeline.nodes`.
#[derive(Debug)]
pub struct PipelineGraph {
    pub pipeline: Pipeline,
    pub graph: DiGraph<usize, EdgeKind>,
    /// Every node, each after all of its dependencies.
    pub order: Vec<NodeIndex>,
    index: HashMap<String, NodeIndex>,
    /// What the check made of each typed node (indexed like `pipeline.nodes`).
    typed: Vec<Option<TypedNode>>,
}

/// A typed node as the graph check left it, so that key, run and show never parse its
/// params or resolve its path params again.
pub struct TypedNode {
    /// The node's kind, configured with its parsed and validated params.
    pub kind: Box<dyn ConfiguredKind>,
    /// Path params, relative to the pipeline's folder (checked like shell `deps`).
    pub paths: BTreeMap<String, RelPath>,
    /// The stage's seed, else the pipeline's (a typed node always has one).
    pub seed: u64,
}

impl fmt::Debug for TypedNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedNode")
            .field("kind", &self.kind)
            .field("paths", &self.paths)
            .field("seed", &self.seed)
            .finish()
    }
}

impl PipelineGraph {
    pub fn node(&self, index: NodeIndex) -> &NodeSpec {
        &self.pipeline.nodes[self.graph[index]]
    }

    pub fn find(&self, name: &str) -> Option<NodeIndex> {
        self.index.get(name).copied()
    }

    /// The checked kind, config, path params and seed of `node`, a typed node of this
    /// graph (`None` for a shell node).
    pub fn typed(&self, node: &NodeSpec) -> Option<&TypedNode> {
        let index = self.find(&node.name)?;
        self.typed.get(self.graph[index])?.as_ref()
    }

    /// The output ports of a typed node (none for a shell node).
    pub fn typed_outputs(&self, node: &NodeSpec) -> &'static [Port] {
        self.typed(node)
            .map_or(&[], |typed| typed.kind.spec().outputs)
    }

    /// Nodes named `target`, or all nodes of the stage `target` (a matrix stage).
    pub fn resolve_target(&self, target: &str) -> Vec<NodeIndex> {
        if let Some(index) = self.find(target) {
            return vec![index];
        }
        self.order
            .iter()
            .copied()
            .filter(|&i| self.node(i).stage == target)
            .collect()
    }

    pub fn dependencies(&self, index: NodeIndex) -> impl Iterator<Item = (NodeIndex, &EdgeKind)> {
        use petgraph::visit::EdgeRef;
        self.graph
            .edges_directed(index, petgraph::Direction::Incoming)
            .map(|edge| (edge.source(), edge.weight()))
    }

    pub fn dependents(&self, index: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph
            .neighbors_directed(index, petgraph::Direction::Outgoing)
    }

    /// `targets` and everything they depend on, in topological order.
    pub fn with_ancestors(&self, targets: &[NodeIndex]) -> Vec<NodeIndex> {
        let mut wanted = vec![false; self.graph.node_count()];
        let mut stack: Vec<NodeIndex> = targets.to_vec();
        while let Some(index) = stack.pop() {
            if std::mem::replace(&mut wanted[index.index()], true) {
                continue;
            }
            stack.extend(self.dependencies(index).map(|(dep, _)| dep));
        }
        self.order
            .iter()
            .copied()
            .filter(|i| wanted[i.index()])
            .collect()
    }
}
