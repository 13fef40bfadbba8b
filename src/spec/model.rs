//! The validated, matrix-expanded pipeline: what the graph and the runner work on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

use super::diagnostic::Loc;
use super::paths::RelPath;

/// A parameter value after interpolation. `serde_json::Value` keeps ints and floats apart.
pub type Value = serde_json::Value;

/// A loaded pipeline: every stage expanded into nodes, every field interpolated.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The pipeline file, absolute.
    pub file: PathBuf,
    /// Its folder: shell commands run here and relative paths start here.
    pub root: PathBuf,
    pub source: Arc<String>,
    pub nodes: Vec<NodeSpec>,
}

/// One node of the DAG: a stage, or one combination of a matrix stage.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// `stage`, or `stage@v1-v2` for a matrix combination (axis values in declared order).
    pub name: String,
    /// The stage it was declared as.
    pub stage: String,
    pub desc: Option<String>,
    /// Matrix axis values of this combination (empty outside a matrix).
    pub matrix: IndexMap<String, Value>,
    pub action: Action,
    pub seed: Option<u64>,
    /// Where the stage is declared, for errors.
    pub loc: Loc,
    /// `resources:` of the stage (not part of the key).
    pub resources: Resources,
    /// `retries:` of the stage: extra attempts after any failure (not part of the key).
    pub retries: Option<u32>,
}

/// What one node needs to run (`resources:`); unset fields take the kind's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub gpus: Option<u32>,
    pub memory_gb: Option<u32>,
}

#[derive(Debug, Clone)]
pub enum Action {
    Shell(ShellAction),
    Typed(TypedAction),
}

#[derive(Debug, Clone)]
pub struct ShellAction {
    pub cmd: String,
    pub cmd_loc: Loc,
    pub deps: Vec<Located<RelPath>>,
    /// All declared outputs, `metrics` included.
    pub outs: Vec<Located<RelPath>>,
    pub metrics: Vec<RelPath>,
    pub params: BTreeMap<String, Value>,
    /// Environment variables whose values enter the key (`env:`), sorted.
    pub env: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TypedAction {
    pub kind: String,
    pub kind_loc: Loc,
    pub params: BTreeMap<String, Value>,
    pub params_loc: Loc,
    /// Where each param is written, for errors about one param.
    pub param_locs: BTreeMap<String, Loc>,
    pub inputs: BTreeMap<String, Located<InputRef>>,
}

/// `<node>.<output>` as written in `inputs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRef {
    pub node: String,
    pub output: String,
}

impl std::fmt::Display for InputRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.node, self.output)
    }
}

#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub loc: Loc,
}

impl NodeSpec {
    pub fn kind_label(&self) -> &str {
        match &self.action {
            Action::Shell(_) => "cmd",
            Action::Typed(typed) => &typed.kind,
        }
    }
}
