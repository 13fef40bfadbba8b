//! The last key each node ran or hit with, kept in `.augflow/state/nodes/<node>.json`, so
//! `status` and `explain` can say what changed since.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use augflow_cache::{Artifact, Digest, read_small_file};
use serde::{Deserialize, Serialize};

use crate::hash::StageKey;
use crate::project::Project;

pub const RECORD_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub format: u32,
    pub key: Digest,
    pub key_fields: StageKey,
    pub outputs: BTreeMap<String, Artifact>,
}

fn record_path(project: &Project, node: &str) -> PathBuf {
    project.node_records_dir().join(format!("{node}.json"))
}

/// None when absent, unreadable or of another format: a record is only a hint.
pub fn read_record(project: &Project, node: &str) -> Option<NodeRecord> {
    let bytes = std::fs::read(record_path(project, node)).ok()?;
    let record: NodeRecord = serde_json::from_slice(&bytes).ok()?;
    (record.format == RECORD_FORMAT).then_some(record)
}

/// Writes the record unless the same one is already there (keeps no-op runs read-only).
pub fn write_record(project: &Project, node: &str, record: &NodeRecord) -> std::io::Result<()> {
    if read_record(project, node).as_ref() == Some(record) {
        return Ok(());
    }
    let path = record_path(project, node);
    // `.augflow` committed as a link must not redirect state writes out of the project.
    crate::fsutil::check_beneath(&project.root, &path).map_err(std::io::Error::other)?;
    crate::fsutil::write_json_atomic(&path, record)
}

/// Records above this size are not records augflow wrote: skipped, unread.
const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// The keys recorded in a records folder (`.augflow/state/nodes` of any project): what that
/// project's nodes last ran or hit with. Unreadable, oversized or foreign files are skipped.
pub fn recorded_keys(dir: &Path) -> Vec<Digest> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "json")
            || !entry.file_type().is_ok_and(|t| t.is_file())
        {
            continue;
        }
        let Some(bytes) = read_small_file(&path, MAX_RECORD_BYTES) else {
            continue;
        };
        if let Ok(record) = serde_json::from_slice::<NodeRecord>(&bytes)
            && record.format == RECORD_FORMAT
        {
            keys.push(record.key);
        }
    }
    keys.sort();
    keys
}
