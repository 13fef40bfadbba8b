//! State shared by the scheduler's workers for one invocation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Once;

use augflow_cache::{Artifact, CacheError, StatCache, Store};

use super::cancel::CancelToken;
use super::remote::RemoteLink;
use crate::graph::{PipelineGraph, typed_output_path};
use crate::kinds::{BackendRequest, Registry};
use crate::project::Project;
use crate::spec::{Action, NodeSpec, RelPath};

/// What the user said about GPUs (`--gpus`, `--gpu-share`).
#[derive(Debug, Clone)]
pub struct GpuSettings {
    /// GPU ids to schedule on; `None`: the devices this machine has (detected on first need).
    pub ids: Option<Vec<u32>>,
    /// Nodes that may run on one GPU at once (`--gpu-share`, at least 1).
    pub share: usize,
}

impl Default for GpuSettings {
    fn default() -> Self {
        GpuSettings {
            ids: None,
            share: 1,
        }
    }
}

pub struct Engine<'a> {
    pub graph: &'a PipelineGraph,
    pub project: &'a Project,
    pub store: &'a Store,
    pub registry: &'a Registry,
    pub stat_cache: StatCache,
    pub cancel: CancelToken,
    /// The compute backend ML kinds should use.
    pub backend: BackendRequest,
    /// Remote cache consulted after a local miss (and pushed to after executions).
    pub remote: Option<RemoteLink>,
    /// False for `pull`: nodes are only restored, never executed.
    pub execute: bool,
    /// GPUs the local scheduler may hand out (`--gpus`, `--gpu-share`).
    pub gpus: GpuSettings,
    /// `run --retries N`: extra attempts for out-of-memory kills (and Slurm node failures)
    /// of every node; a stage's own `retries` also covers its ordinary failures.
    pub retries: u32,
    /// The project is recorded in the store once per invocation, not once per node.
    project_registered: Once,
}

impl<'a> Engine<'a> {
    pub fn new(
        graph: &'a PipelineGraph,
        project: &'a Project,
        store: &'a Store,
        registry: &'a Registry,
        cancel: CancelToken,
    ) -> Engine<'a> {
        Engine {
            graph,
            project,
            store,
            registry,
            stat_cache: StatCache::load(&project.stat_cache_path()),
            cancel,
            backend: BackendRequest::default(),
            remote: None,
            execute: true,
            gpus: GpuSettings::default(),
            retries: 0,
            project_registered: Once::new(),
        }
    }

    /// Records the project in the store, so that gc from any project sharing the store keeps
    /// what this one uses. Best effort: a failure is logged, never fails a node.
    pub fn register_project(&self) {
        self.project_registered.call_once(|| {
            let records = self.project.node_records_dir();
            let registered = std::path::absolute(&records)
                .map_err(|e| CacheError::Io {
                    op: "resolve",
                    path: records.clone(),
                    source: e,
                })
                .and_then(|dir| self.store.register_project(&dir));
            if let Err(err) = registered {
                tracing::warn!("failed to register the project with the store: {err}");
            }
        });
    }

    /// Content digest of a workspace path, through the stat cache.
    pub fn digest_path(&self, path: &std::path::Path) -> Result<Artifact, CacheError> {
        self.stat_cache.digest_path(path)
    }

    pub fn save_stat_cache(&self) -> Result<(), CacheError> {
        self.stat_cache.save()
    }

    /// The node's outputs: name in the action entry → workspace path.
    /// Shell outputs are named by their relative path, typed ones by their port.
    pub fn output_paths(&self, node: &NodeSpec) -> BTreeMap<String, PathBuf> {
        let root = &self.project.root;
        match &node.action {
            Action::Shell(shell) => shell
                .outs
                .iter()
                .map(|out| (out.value.to_string(), out.value.to_path(root)))
                .collect(),
            Action::Typed(_) => self
                .graph
                .typed_outputs(node)
                .iter()
                .map(|port| {
                    let rel: RelPath = typed_output_path(&node.name, port.name);
                    (port.name.to_owned(), rel.to_path(root))
                })
                .collect(),
        }
    }
}
