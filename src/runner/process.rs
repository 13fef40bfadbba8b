//! One node, start to end: key → lookup → (restore | lock → execute → store → publish).

use std::collections::BTreeMap;
use std::time::Instant;

use augflow_cache::{ActionEntry, Artifact, CacheError, Digest, Producer};
use augflow_stages::error_chain;

use super::engine::Engine;
use super::events::NodeStatus;
use super::gpus::Placement;
use super::key::compute_key;
use super::lineage;
use super::node_error::NodeError;
use super::record::{NodeRecord, RECORD_FORMAT, write_record};
use super::shell::run_shell;
use super::typed::{publish_dir, run_typed};
use augflow_cache::remote::{TransferError, pull_action_expecting, push_action};

use crate::fsutil::check_beneath;
use crate::hash::StageKey;
use crate::kinds::Progress;
use crate::project::PushMode;
use crate::spec::{Action, NodeSpec, Value};

pub struct NodeDone {
    pub status: NodeStatus,
    pub key: Digest,
    pub outputs: BTreeMap<String, Artifact>,
    pub warnings: Vec<String>,
}

/// What a node reports while it is processed.
pub enum NodeSignal {
    /// It missed the cache and starts executing.
    Executing,
    Progress(Progress),
}

/// Runs or reuses one node on the GPUs the scheduler gave it, as attempt
/// `placement.attempt`, reporting through `observe`.
pub fn process_node_placed<'u>(
    engine: &Engine<'_>,
    node: &NodeSpec,
    placement: &Placement,
    upstream: impl Fn(&str) -> Option<&'u BTreeMap<String, Artifact>>,
    observe: &(dyn Fn(NodeSignal) + Sync),
) -> Result<NodeDone, NodeError> {
    process(engine, node, placement, upstream, observe, engine.execute)
}

/// Reuses one node's result from the store or the remote, restoring and verifying its
/// outputs in the workspace; never executes (`NodeError::NotCached` on a miss).
pub fn restore_node<'u>(
    engine: &Engine<'_>,
    node: &NodeSpec,
    upstream: impl Fn(&str) -> Option<&'u BTreeMap<String, Artifact>>,
) -> Result<NodeDone, NodeError> {
    process(
        engine,
        node,
        &Placement::default(),
        upstream,
        &|_| {},
        false,
    )
}

fn process<'u>(
    engine: &Engine<'_>,
    node: &NodeSpec,
    placement: &Placement,
    upstream: impl Fn(&str) -> Option<&'u BTreeMap<String, Artifact>>,
    observe: &(dyn Fn(NodeSignal) + Sync),
    may_execute: bool,
) -> Result<NodeDone, NodeError> {
    // Before anything is restored, removed or executed: a committed or pulled symlink must
    // never redirect a write out of the project.
    check_output_paths(engine, node)?;
    let key_fields = compute_key(engine, node, upstream)?;
    let key = key_fields.digest();
    let mut lookup = Lookup {
        engine,
        node,
        key_fields: &key_fields,
        key,
        warnings: Vec::new(),
    };
    if let Some(done) = lookup.try_hit()? {
        return Ok(done);
    }
    if let Some(done) = lookup.try_remote()? {
        return Ok(done);
    }
    // Restoring never waits for the lock: a node another process is building is a miss.
    if !may_execute {
        return Err(NodeError::NotCached);
    }
    // Two processes on one store must not build the same key at once; the loser of the
    // race finds the winner's entry once it gets the lock.
    let _lock = engine.store.lock_key(&key)?;
    if let Some(done) = lookup.try_hit()? {
        return Ok(done);
    }
    let mut warnings = lookup.warnings;
    observe(NodeSignal::Executing);
    let started = Instant::now();
    let (outputs, mut metadata) = execute(engine, node, placement, observe)?;
    lineage::annotate(&mut metadata, engine, node, &key_fields);
    let entry = ActionEntry {
        format: augflow_cache::ACTION_FORMAT,
        outputs: outputs.clone(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        created_unix: unix_now(),
        producer: Producer::current(env!("CARGO_PKG_VERSION")),
        metadata,
    };
    // Published last: an entry exists only once all its blobs do.
    engine.store.put_action(&key, &entry)?;
    record(engine, node, &key_fields, key, &outputs)?;
    push_to_remote(engine, key, &entry, &mut warnings);
    Ok(NodeDone {
        status: NodeStatus::Executed,
        key,
        outputs,
        warnings,
    })
}

/// A node the plan found up to date (its key in the store, its outputs in the workspace,
/// no dependency stale): what [`process_node_placed`] would do on that hit, without computing the
/// key, reading the entry or hashing the outputs a second time.
pub fn reuse_planned(
    engine: &Engine<'_>,
    node: &NodeSpec,
    key_fields: &StageKey,
    entry: ActionEntry,
) -> Result<NodeDone, NodeError> {
    check_output_paths(engine, node)?;
    let key = key_fields.digest();
    record(engine, node, key_fields, key, &entry.outputs)?;
    engine.store.touch_action(&key);
    Ok(NodeDone {
        status: NodeStatus::Cached,
        key,
        outputs: entry.outputs,
        warnings: Vec::new(),
    })
}

/// Uploads a freshly executed node when the remote pushes automatically; a failure is a
/// warning (the result is safe in the local store; `augflow push` can retry).
fn push_to_remote(
    engine: &Engine<'_>,
    key: Digest,
    entry: &ActionEntry,
    warnings: &mut Vec<String>,
) {
    let Some(link) = engine
        .remote
        .as_ref()
        .filter(|link| link.usable() && link.push == PushMode::Auto)
    else {
        return;
    };
    match push_action(
        link.remote.as_ref(),
        engine.store,
        &key,
        entry,
        link.parallel,
    ) {
        Ok(_) => {}
        Err(TransferError::Remote(err)) => {
            if link.mark_down() {
                warnings.push(format!(
                    "remote `{}` is unavailable; results stay local (run `augflow push` later): {err}",
                    link.name
                ));
            }
        }
        Err(err) => warnings.push(format!("failed to push to remote `{}`: {err}", link.name)),
    }
}

/// One node's key being looked up, in the local store and then on the remote, with the
/// warnings gathered on the way.
struct Lookup<'a, 'e> {
    engine: &'a Engine<'e>,
    node: &'a NodeSpec,
    key_fields: &'a StageKey,
    key: Digest,
    warnings: Vec<String>,
}

impl Lookup<'_, '_> {
    /// The local store's entry, its outputs restored; a broken entry is dropped (a miss).
    fn try_hit(&mut self) -> Result<Option<NodeDone>, NodeError> {
        let Some(entry) = self.engine.store.get_action(&self.key)? else {
            return Ok(None);
        };
        match restore_outputs(self.engine, self.node, &entry) {
            Ok(()) => {}
            Err(CacheError::Corrupt { digest, path }) => {
                self.warnings.push(format!(
                    "corrupt blob {digest} in the store ({}): quarantined; rerunning `{}`",
                    path.display(),
                    self.node.name
                ));
                self.engine.store.remove_action(&self.key)?;
                return Ok(None);
            }
            Err(CacheError::MissingBlob { digest }) => {
                self.warnings.push(format!(
                    "blob {digest} is missing from the store: rerunning `{}`",
                    self.node.name
                ));
                self.engine.store.remove_action(&self.key)?;
                return Ok(None);
            }
            // Any other failure (a file where the manifest puts a folder, an unusable
            // manifest, an entry without an output): the entry is useless, so it is a miss.
            Err(err) => {
                self.warnings.push(format!(
                    "could not restore `{}` from the store ({}): dropped the entry; rerunning it",
                    self.node.name,
                    error_chain(&err)
                ));
                self.engine.store.remove_action(&self.key)?;
                return Ok(None);
            }
        }
        // Least-recently-used order for `gc --max-size`.
        self.engine.store.touch_action(&self.key);
        self.found(NodeStatus::Cached, entry).map(Some)
    }

    /// After a local miss: the remote's entry, its blobs verified into the local store.
    fn try_remote(&mut self) -> Result<Option<NodeDone>, NodeError> {
        let Some(link) = self.engine.remote.as_ref().filter(|link| link.usable()) else {
            return Ok(None);
        };
        // An entry naming other outputs than this node declares is refused before it reaches
        // the local store: a miss, never a node that fails on every run.
        let expected = self.engine.output_paths(self.node).into_keys().collect();
        let pulled = pull_action_expecting(
            link.remote.as_ref(),
            self.engine.store,
            &self.key,
            link.parallel,
            &expected,
        );
        let entry = match pulled {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(None),
            Err(err @ (TransferError::Tampered { .. } | TransferError::MissingBlob { .. })) => {
                self.warnings.push(format!(
                    "remote `{}`: {err}; computing `{}` here instead",
                    link.name, self.node.name
                ));
                return Ok(None);
            }
            Err(TransferError::Remote(err)) => {
                if link.mark_down() {
                    self.warnings.push(format!(
                        "remote `{}` is unavailable; going on without it: {err}",
                        link.name
                    ));
                }
                return Ok(None);
            }
            Err(TransferError::Cache(err)) => return Err(err.into()),
        };
        if let Err(err) = restore_outputs(self.engine, self.node, &entry) {
            // The entry was copied into the local store before its outputs were restored; a
            // broken one must cost a recompute, not fail this node on every run.
            self.warnings.push(format!(
                "could not restore `{}` from remote `{}` ({}): dropped the entry; computing it here instead",
                self.node.name,
                link.name,
                error_chain(&err)
            ));
            self.engine.store.remove_action(&self.key)?;
            return Ok(None);
        }
        self.found(NodeStatus::Restored, entry).map(Some)
    }

    /// Records the key the node hit with and reports the node done.
    fn found(&mut self, status: NodeStatus, entry: ActionEntry) -> Result<NodeDone, NodeError> {
        record(
            self.engine,
            self.node,
            self.key_fields,
            self.key,
            &entry.outputs,
        )?;
        Ok(NodeDone {
            status,
            key: self.key,
            outputs: entry.outputs,
            warnings: std::mem::take(&mut self.warnings),
        })
    }
}

/// Refuses a node whose outputs lie beyond a symbolic link inside the project.
fn check_output_paths(engine: &Engine<'_>, node: &NodeSpec) -> Result<(), NodeError> {
    let root = &engine.project.root;
    for path in engine.output_paths(node).values() {
        check_beneath(root, path).map_err(|source| NodeError::UnsafePath {
            stage: node.name.clone(),
            path: path
                .strip_prefix(root)
                .unwrap_or(path)
                .display()
                .to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Makes the workspace hold exactly the recorded outputs, copying from the store what is
/// missing or was changed by hand.
fn restore_outputs(
    engine: &Engine<'_>,
    node: &NodeSpec,
    entry: &ActionEntry,
) -> Result<(), CacheError> {
    for (name, path) in engine.output_paths(node) {
        let Some(artifact) = entry.outputs.get(&name) else {
            return Err(CacheError::MissingBlob {
                digest: Digest::of_bytes(name.as_bytes()),
            });
        };
        let current = match engine.digest_path(&path) {
            Ok(current) => Some(current),
            Err(CacheError::Missing { .. }) => None,
            // A path we cannot hash (e.g. a symlink put there by hand) is replaced.
            Err(_) => None,
        };
        if current.as_ref().map(Artifact::digest) != Some(artifact.digest()) {
            crate::fsutil::remove_path(&path).map_err(|source| CacheError::Io {
                op: "remove modified output",
                path: path.clone(),
                source,
            })?;
            engine.store.materialize(artifact, &path)?;
        }
    }
    Ok(())
}

type Executed = (BTreeMap<String, Artifact>, BTreeMap<String, Value>);

fn execute(
    engine: &Engine<'_>,
    node: &NodeSpec,
    placement: &Placement,
    observe: &(dyn Fn(NodeSignal) + Sync),
) -> Result<Executed, NodeError> {
    let mut metadata = BTreeMap::new();
    metadata.insert("kind".to_owned(), Value::from(node.kind_label()));
    metadata.insert("attempts".to_owned(), Value::from(placement.attempt));
    if !placement.gpus.is_empty() {
        metadata.insert("gpu".to_owned(), Value::from(placement.gpu_list()));
    }
    let mut outputs = BTreeMap::new();
    match &node.action {
        Action::Shell(shell) => {
            run_shell(engine, node, shell, placement)?;
            // The command may have replaced a folder with a link: never store (and push)
            // what lies beyond one.
            check_output_paths(engine, node)?;
            for (name, path) in engine.output_paths(node) {
                outputs.insert(name, engine.store.put_artifact(&path)?);
            }
        }
        Action::Typed(typed) => {
            let progress = |p: Progress| observe(NodeSignal::Progress(p));
            let run = run_typed(engine, node, typed, placement, &progress)?;
            let destinations = engine.output_paths(node);
            for (name, produced) in &run.outputs {
                outputs.insert(name.clone(), engine.store.put_artifact(produced)?);
            }
            for (name, produced) in &run.outputs {
                if let Some(dest) = destinations.get(name) {
                    publish_dir(produced, dest)?;
                }
            }
            metadata.extend(run.outcome.metadata);
        }
    }
    Ok((outputs, metadata))
}

fn record(
    engine: &Engine<'_>,
    node: &NodeSpec,
    key_fields: &StageKey,
    key: Digest,
    outputs: &BTreeMap<String, Artifact>,
) -> Result<(), NodeError> {
    let record = NodeRecord {
        format: RECORD_FORMAT,
        key,
        key_fields: key_fields.clone(),
        outputs: outputs.clone(),
    };
    write_record(engine.project, &node.name, &record).map_err(|source| {
        NodeError::io(
            "write node record for",
            &engine.project.node_records_dir(),
            source,
        )
    })?;
    engine.register_project();
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
