//! Lineage from the store: what produced an artifact (the chain of keys, with each key's
//! fields) and every entry whose key includes it. An executed entry records its node, its
//! pipeline and its key fields under `metadata.lineage`, so this works across every
//! pipeline that shares the store; entries from before that fall back to this project's
//! node records.

use std::collections::{BTreeMap, HashMap, HashSet};

use augflow_cache::{Artifact, CacheError, Digest, Store, TreeEntry, TreeManifest};
use serde::{Deserialize, Serialize};

use super::engine::Engine;
use super::record::read_record;
use crate::hash::{KeyAction, StageKey};
use crate::spec::{NodeSpec, Value};

/// The metadata field of an action entry that holds its [`EntryLineage`].
pub const LINEAGE_FIELD: &str = "lineage";

/// What produced an entry, as recorded in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryLineage {
    pub node: String,
    /// The pipeline file, absolute.
    pub pipeline: String,
    pub key_fields: StageKey,
}

/// Adds the entry's lineage to the metadata of an entry about to be published.
pub fn annotate(
    metadata: &mut BTreeMap<String, Value>,
    engine: &Engine<'_>,
    node: &NodeSpec,
    key_fields: &StageKey,
) {
    let lineage = EntryLineage {
        node: node.name.clone(),
        pipeline: engine.graph.pipeline.file.display().to_string(),
        key_fields: key_fields.clone(),
    };
    if let Ok(value) = serde_json::to_value(lineage) {
        metadata.insert(LINEAGE_FIELD.to_owned(), value);
    }
}

/// One action entry and what produced it (when known).
#[derive(Debug, Clone)]
pub struct Produced {
    pub key: Digest,
    pub lineage: Option<EntryLineage>,
    pub outputs: BTreeMap<String, Artifact>,
}

impl Produced {
    pub fn kind(&self) -> Option<&str> {
        self.lineage.as_ref().map(|l| match &l.key_fields.action {
            KeyAction::Typed { kind, .. } => kind.as_str(),
            KeyAction::Shell { .. } => "cmd",
        })
    }
}

/// Where a digest occurs among the store's outputs: a whole output, or a file or folder
/// inside one (`inner`, '/'-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRef {
    pub entry: usize,
    pub output: String,
    pub inner: Option<String>,
}

/// Every entry of a store, indexed by key and by the digests of its outputs.
#[derive(Debug, Default)]
pub struct StoreIndex {
    pub entries: Vec<Produced>,
    by_key: HashMap<Digest, usize>,
    by_output: HashMap<Digest, Vec<OutputRef>>,
}

impl StoreIndex {
    /// Reads every entry of `store` (and each folder output's manifest). `engine`'s project
    /// records name the producers of entries that predate recorded lineage.
    pub fn build(store: &Store, engine: &Engine<'_>) -> Result<StoreIndex, CacheError> {
        let records = records_by_key(engine);
        let mut index = StoreIndex::default();
        for key in store.list_actions()? {
            let Some(entry) = store.get_action(&key)? else {
                continue;
            };
            let lineage = entry
                .metadata
                .get(LINEAGE_FIELD)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .or_else(|| records.get(&key).cloned());
            let position = index.entries.len();
            for (name, artifact) in &entry.outputs {
                index.add_output(store, position, name, artifact);
            }
            index.by_key.insert(key, position);
            index.entries.push(Produced {
                key,
                lineage,
                outputs: entry.outputs,
            });
        }
        Ok(index)
    }

    fn add_output(&mut self, store: &Store, entry: usize, name: &str, artifact: &Artifact) {
        let mut add = |digest: Digest, inner: Option<String>| {
            self.by_output.entry(digest).or_default().push(OutputRef {
                entry,
                output: name.to_owned(),
                inner,
            });
        };
        add(artifact.digest(), None);
        if let Artifact::Dir { manifest, .. } = artifact {
            match store.read_manifest(manifest) {
                Ok(tree) => {
                    for (inner, digest) in inner_digests(&tree) {
                        add(digest, Some(inner));
                    }
                }
                Err(err) => tracing::warn!(output = name, "failed to read a manifest: {err}"),
            }
        }
    }

    pub fn get(&self, key: &Digest) -> Option<&Produced> {
        self.by_key.get(key).map(|&i| &self.entries[i])
    }

    /// Outputs (or parts of outputs) with this digest; whole outputs first.
    pub fn producers_of(&self, digest: &Digest) -> Vec<&OutputRef> {
        let mut found: Vec<&OutputRef> = self.by_output.get(digest).into_iter().flatten().collect();
        found.sort_by_key(|r| r.inner.is_some());
        found
    }

    /// Every entry whose key includes an output of `key` (or a part of one), then their
    /// users in turn, depth first; each entry once.
    pub fn used_by(&self, key: &Digest) -> Vec<UsedBy> {
        let mut seen = HashSet::from([*key]);
        let mut found = Vec::new();
        self.used_by_into(key, 0, &mut seen, &mut found);
        found
    }

    fn used_by_into(
        &self,
        key: &Digest,
        depth: usize,
        seen: &mut HashSet<Digest>,
        found: &mut Vec<UsedBy>,
    ) {
        let Some(&position) = self.by_key.get(key) else {
            return;
        };
        let mut direct = Vec::new();
        for (index, user) in self.entries.iter().enumerate() {
            let Some(lineage) = &user.lineage else {
                continue;
            };
            for (input, digest) in &lineage.key_fields.inputs {
                let from = self
                    .by_output
                    .get(digest)
                    .into_iter()
                    .flatten()
                    .find(|r| r.entry == position);
                if let Some(from) = from
                    && seen.insert(user.key)
                {
                    direct.push((index, input.clone(), from.clone()));
                    break;
                }
            }
        }
        // Siblings by name, whatever order the store lists keys in.
        direct.sort_by_key(|(index, _, _)| {
            let lineage = self.entries[*index].lineage.as_ref();
            (
                lineage.map(|l| l.node.clone()),
                lineage.map(|l| l.pipeline.clone()),
            )
        });
        for (index, input, from) in direct {
            let user = &self.entries[index];
            found.push(UsedBy {
                depth,
                key: user.key,
                node: user.lineage.as_ref().map(|l| l.node.clone()),
                pipeline: user.lineage.as_ref().map(|l| l.pipeline.clone()),
                input,
                output: from.output,
                inner: from.inner,
            });
            self.used_by_into(&user.key, depth + 1, seen, found);
        }
    }

    /// The chain of keys that produced `key`'s outputs.
    pub fn lineage(&self, key: &Digest) -> Option<LineageNode> {
        self.get(key)?;
        Some(self.lineage_node(key, &mut HashSet::new()))
    }

    fn lineage_node(&self, key: &Digest, expanded: &mut HashSet<Digest>) -> LineageNode {
        let produced = self.get(key);
        let lineage = produced.and_then(|p| p.lineage.as_ref());
        let mut node = LineageNode {
            key: key.to_hex(),
            node: lineage.map(|l| l.node.clone()),
            pipeline: lineage.map(|l| l.pipeline.clone()),
            kind: produced.and_then(Produced::kind).map(str::to_owned),
            params: lineage
                .map(|l| l.key_fields.params.clone())
                .unwrap_or_default(),
            seed: lineage.and_then(|l| l.key_fields.seed),
            repeated: false,
            inputs: Vec::new(),
        };
        if !expanded.insert(*key) {
            node.repeated = true;
            return node;
        }
        let Some(lineage) = lineage else {
            return node;
        };
        for (name, digest) in &lineage.key_fields.inputs {
            let from = self.producers_of(digest).first().map(|r| {
                let producer = &self.entries[r.entry];
                Box::new(InputSource {
                    output: r.output.clone(),
                    inner: r.inner.clone(),
                    producer: self.lineage_node(&producer.key, expanded),
                })
            });
            node.inputs.push(LineageInput {
                name: name.clone(),
                digest: digest.to_hex(),
                from,
            });
        }
        node
    }
}

/// One entry of a lineage chain.
#[derive(Debug, Clone, Serialize)]
pub struct LineageNode {
    pub key: String,
    pub node: Option<String>,
    pub pipeline: Option<String>,
    pub kind: Option<String>,
    pub params: BTreeMap<String, Value>,
    pub seed: Option<u64>,
    /// Already shown higher up the chain (its inputs are not repeated).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub repeated: bool,
    pub inputs: Vec<LineageInput>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineageInput {
    /// The key's input name: a typed input, or a shell dependency's path.
    pub name: String,
    pub digest: String,
    /// The output it came from; none for a source file no entry produced.
    pub from: Option<Box<InputSource>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputSource {
    pub output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner: Option<String>,
    pub producer: LineageNode,
}

/// An entry whose key includes an output of the queried one (`depth` 0), or of one of
/// those (`depth` 1), and so on.
#[derive(Debug, Clone, Serialize)]
pub struct UsedBy {
    pub depth: usize,
    #[serde(serialize_with = "hex")]
    pub key: Digest,
    pub node: Option<String>,
    pub pipeline: Option<String>,
    /// The key input that holds it.
    pub input: String,
    /// The output of the entry one level up it came from.
    pub output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner: Option<String>,
}

fn hex<S: serde::Serializer>(key: &Digest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&key.to_hex())
}

/// Digests of every file and sub-folder inside a folder output, as a dependency naming
/// that path would hash them.
fn inner_digests(tree: &TreeManifest) -> Vec<(String, Digest)> {
    let mut folders: BTreeMap<&str, BTreeMap<String, TreeEntry>> = BTreeMap::new();
    let mut found = Vec::new();
    for (name, entry) in &tree.entries {
        found.push((name.clone(), entry.digest));
        for (cut, _) in name.match_indices('/') {
            let folder = &name[..cut];
            folders
                .entry(folder)
                .or_default()
                .insert(name[cut + 1..].to_owned(), entry.clone());
        }
    }
    for (folder, entries) in folders {
        let manifest = TreeManifest {
            entries,
            ..TreeManifest::default()
        };
        found.push((folder.to_owned(), Artifact::dir(&manifest).digest()));
    }
    found
}

/// This project's node records by key, as lineage for entries that carry none.
fn records_by_key(engine: &Engine<'_>) -> HashMap<Digest, EntryLineage> {
    let pipeline = engine.graph.pipeline.file.display().to_string();
    engine
        .graph
        .order
        .iter()
        .filter_map(|&index| {
            let name = &engine.graph.node(index).name;
            let record = read_record(engine.project, name)?;
            Some((
                record.key,
                EntryLineage {
                    node: name.clone(),
                    pipeline: pipeline.clone(),
                    key_fields: record.key_fields,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &[u8]) -> TreeEntry {
        TreeEntry {
            digest: Digest::of_bytes(digest),
            size: digest.len() as u64,
            executable: false,
        }
    }

    #[test]
    fn inner_folders_hash_like_their_own_manifest() {
        let mut tree = TreeManifest::default();
        tree.entries.insert("a/x.png".into(), entry(b"x"));
        tree.entries.insert("a/b/y.png".into(), entry(b"y"));
        tree.entries.insert("z.txt".into(), entry(b"z"));
        let found: BTreeMap<String, Digest> = inner_digests(&tree).into_iter().collect();
        let mut a = TreeManifest::default();
        a.entries.insert("x.png".into(), entry(b"x"));
        a.entries.insert("b/y.png".into(), entry(b"y"));
        assert_eq!(found["a"], a.digest());
        let mut b = TreeManifest::default();
        b.entries.insert("y.png".into(), entry(b"y"));
        assert_eq!(found["a/b"], b.digest());
        assert_eq!(found["z.txt"], Digest::of_bytes(b"z"));
        assert_eq!(found.len(), 5);
    }
}
