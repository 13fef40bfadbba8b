//! Runs a typed stage kind into a fresh temp folder; the caller stores and publishes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::engine::Engine;
use super::gpus::Placement;
use super::node_error::NodeError;
use crate::graph::{split_gather_name, typed_output_path};
use crate::kinds::{Gathered, KindContext, KindError, KindOutcome, Progress};
use crate::spec::{NodeSpec, TypedAction};

/// A typed node's freshly produced outputs, still in the temp folder.
pub struct TypedRun {
    /// Removed on drop, after the outputs have been moved out of it.
    pub _scratch: tempfile::TempDir,
    /// Output port → directory inside `scratch`.
    pub outputs: BTreeMap<String, PathBuf>,
    pub outcome: KindOutcome,
}

pub fn run_typed(
    engine: &Engine<'_>,
    node: &NodeSpec,
    typed: &TypedAction,
    placement: &Placement,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<TypedRun, NodeError> {
    let kind_error = |source| NodeError::Kind {
        kind: typed.kind.clone(),
        source,
    };
    let checked = engine
        .graph
        .typed(node)
        .ok_or_else(|| kind_error(KindError::Unchecked(node.name.clone())))?;
    let spec = checked.kind.spec();
    let tmp = engine.project.tmp_dir();
    std::fs::create_dir_all(&tmp)
        .map_err(|source| NodeError::io("create temp folder", &tmp, source))?;
    let scratch = tempfile::Builder::new()
        .prefix(&format!("{}.", node.name))
        .tempdir_in(&tmp)
        .map_err(|source| NodeError::io("create temp folder in", &tmp, source))?;
    let mut outputs = BTreeMap::new();
    for port in spec.outputs {
        let dir = scratch.path().join(port.name);
        std::fs::create_dir(&dir)
            .map_err(|source| NodeError::io("create output folder", &dir, source))?;
        outputs.insert(port.name.to_owned(), dir);
    }
    let mut inputs = BTreeMap::new();
    let mut gathered: BTreeMap<String, Vec<Gathered>> = BTreeMap::new();
    for (name, reference) in &typed.inputs {
        let rel = typed_output_path(&reference.value.node, &reference.value.output);
        let dir = rel.to_path(&engine.project.root);
        let (port, axes) = split_gather_name(name);
        if spec.gather_inputs.contains(&port) {
            gathered.entry(port.to_owned()).or_default().push(Gathered {
                axes: axes.unwrap_or_default(),
                dir: dir.clone(),
            });
        }
        inputs.insert(name.clone(), dir);
    }
    let paths = checked
        .paths
        .iter()
        .map(|(name, rel)| (name.clone(), rel.to_path(&engine.project.root)))
        .collect();
    let context = KindContext {
        seed: checked.seed,
        paths,
        backend: engine.backend,
        // A typed node gets one device; a kind that asked for more uses the first.
        gpu: placement.gpus.first().map(|&id| id as usize),
        progress,
        inputs,
        gathered,
        outputs: outputs.clone(),
        cancel: engine.cancel.flag(),
    };
    // A bug in a stage function must fail its node, not take down the whole run.
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checked.kind.run(&context)));
    let outcome = match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(KindError::Cancelled)) => return Err(NodeError::Cancelled),
        Ok(Err(source)) => return Err(kind_error(source)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            return Err(NodeError::Panicked {
                kind: typed.kind.clone(),
                message,
            });
        }
    };
    if engine.cancel.is_cancelled() {
        return Err(NodeError::Cancelled);
    }
    Ok(TypedRun {
        _scratch: scratch,
        outputs,
        outcome,
    })
}

/// Moves a produced output folder into its workspace place (same filesystem: a rename).
pub fn publish_dir(from: &Path, to: &Path) -> Result<(), NodeError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| NodeError::io("create folder", parent, source))?;
    }
    crate::fsutil::remove_path(to)
        .map_err(|source| NodeError::io("remove old output", to, source))?;
    std::fs::rename(from, to).map_err(|source| NodeError::io("move output into place", to, source))
}
