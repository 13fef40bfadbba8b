//! The last key each node ran or hit with, kept in `.augflow/state/nodes/<node>.json`, so
//! `status` and `explain` can say what changed since.

use std::collections::BTreeMap;
use std::path::PathBuf;

use augflow_cache::{Artifact, Digest};
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
    crate::fsutil::write_json_atomic(&record_path(project, node), record)
}
