//! Computes a node's key from its spec and the digests of what it reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use augflow_cache::{Artifact, CacheError, Digest};

use super::engine::Engine;
use crate::hash::{KEY_FORMAT, KeyAction, StageKey};
use crate::spec::{Action, NodeSpec};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Every typed node of a built graph passed its check; this names a bug.
    #[error("key node `{node}`: the graph check did not keep its kind and params")]
    Unchecked { node: String },
    #[error("read dependency {path}: it does not exist and no stage writes it")]
    MissingDependency { path: PathBuf },
    #[error("hash dependency {path}")]
    Hash {
        path: PathBuf,
        #[source]
        source: CacheError,
    },
    #[error("read input `{input}`: its producer `{node}` has not produced output `{output}`")]
    MissingInput {
        input: String,
        node: String,
        output: String,
    },
}

/// `upstream(node)` gives the outputs a dependency produced in this run (or its cache hit).
pub fn compute_key<'u>(
    engine: &Engine<'_>,
    node: &NodeSpec,
    upstream: impl Fn(&str) -> Option<&'u BTreeMap<String, Artifact>>,
) -> Result<StageKey, KeyError> {
    match &node.action {
        Action::Typed(typed) => {
            let checked = engine
                .graph
                .typed(node)
                .ok_or_else(|| KeyError::Unchecked {
                    node: node.name.clone(),
                })?;
            let mut inputs = BTreeMap::new();
            // Path params are read like shell deps: by content, under a `path:` prefix so
            // they can never collide with an input port's name.
            for (name, rel) in &checked.paths {
                let path = rel.to_path(&engine.project.root);
                inputs.insert(format!("path:{name}"), digest_dep(engine, &path)?);
            }
            for (name, reference) in &typed.inputs {
                let target = &reference.value;
                let artifact = upstream(&target.node)
                    .and_then(|outputs| outputs.get(&target.output))
                    .ok_or_else(|| KeyError::MissingInput {
                        input: name.clone(),
                        node: target.node.clone(),
                        output: target.output.clone(),
                    })?;
                inputs.insert(name.clone(), artifact.digest());
            }
            Ok(StageKey {
                format: KEY_FORMAT,
                action: KeyAction::Typed {
                    kind: typed.kind.clone(),
                    version: checked.kind.spec().version,
                },
                params: typed.params.clone(),
                inputs,
                seed: node.seed,
            })
        }
        Action::Shell(shell) => {
            let mut inputs = BTreeMap::new();
            for dep in &shell.deps {
                let path = dep.value.to_path(&engine.project.root);
                inputs.insert(dep.value.to_string(), digest_dep(engine, &path)?);
            }
            Ok(StageKey {
                format: KEY_FORMAT,
                action: KeyAction::Shell {
                    cmd: shell.cmd.clone(),
                    outs: shell.outs.iter().map(|o| o.value.to_string()).collect(),
                    env: shell
                        .env
                        .iter()
                        .map(|name| {
                            let value = std::env::var_os(name)
                                .map(|v| Digest::of_bytes(v.as_encoded_bytes()));
                            (name.clone(), value)
                        })
                        .collect(),
                },
                params: shell.params.clone(),
                inputs,
                seed: node.seed,
            })
        }
    }
}

/// Content digest of a file or folder a node reads from the workspace.
fn digest_dep(
    engine: &Engine<'_>,
    path: &std::path::Path,
) -> Result<augflow_cache::Digest, KeyError> {
    engine
        .digest_path(path)
        .map(|artifact| artifact.digest())
        .map_err(|source| match source {
            CacheError::Missing { .. } => KeyError::MissingDependency {
                path: path.to_path_buf(),
            },
            source => KeyError::Hash {
                path: path.to_path_buf(),
                source,
            },
        })
}
