//! The action cache: key digest → [`ActionEntry`] JSON under `ac/`.

use std::fs;
use std::io;
use std::path::Path;

use super::{ACTIONS, Store, read_dir_names, remove_file_if_present};
use crate::action::{ACTION_FORMAT, ActionEntry};
use crate::atomic;
use crate::digest::Digest;
use crate::error::CacheError;

impl Store {
    /// The entry for `key`, or None. An entry that does not parse, has another format, or
    /// lacks blobs is quarantined and reported as a miss: a damaged cache must only ever
    /// cost a rebuild.
    pub fn get_action(&self, key: &Digest) -> Result<Option<ActionEntry>, CacheError> {
        let path = self.action_path(key);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::io("read action entry", &path, e)),
        };
        let entry: ActionEntry = match serde_json::from_slice(&bytes) {
            Ok(entry) => entry,
            Err(e) => return self.reject_action(key, &path, &format!("unparsable: {e}")),
        };
        if entry.format != ACTION_FORMAT {
            let why = format!("unknown format {}", entry.format);
            return self.reject_action(key, &path, &why);
        }
        for (name, artifact) in &entry.outputs {
            if !self.artifact_complete(artifact)? {
                let why = format!("output {name:?} has missing blobs");
                return self.reject_action(key, &path, &why);
            }
        }
        Ok(Some(entry))
    }

    /// Publishes an entry atomically. Call it only once every blob it names is stored, so
    /// that a visible entry is always usable.
    pub fn put_action(&self, key: &Digest, entry: &ActionEntry) -> Result<(), CacheError> {
        let path = self.action_path(key);
        // Cannot fail: string keys, derived impls and serde_json values only.
        let bytes = serde_json::to_vec_pretty(entry).expect("action entry serializes to json");
        self.create_store_parent(&path)?;
        atomic::write_atomic(&self.tmp_dir(), &path, &bytes, self.metadata_mode())
    }

    /// Removes the entry for `key`, if any.
    pub fn remove_action(&self, key: &Digest) -> Result<(), CacheError> {
        remove_file_if_present(&self.action_path(key), "remove action entry")
    }

    /// Keys of all entries, sorted. Files that are not `<hex>.json` are ignored.
    pub fn list_actions(&self) -> Result<Vec<Digest>, CacheError> {
        let dir = self.root.join(ACTIONS);
        let mut keys = Vec::new();
        for shard in read_dir_names(&dir)? {
            for name in read_dir_names(&dir.join(&shard))? {
                let key = name
                    .strip_suffix(".json")
                    .filter(|hex| hex.starts_with(&shard))
                    .and_then(|hex| Digest::from_hex(hex).ok());
                keys.extend(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn reject_action(
        &self,
        key: &Digest,
        path: &Path,
        why: &str,
    ) -> Result<Option<ActionEntry>, CacheError> {
        tracing::warn!(key = %key, reason = why, "ignoring damaged action entry");
        self.quarantine(path, &format!("{}.json", key.to_hex()))?;
        Ok(None)
    }
}
