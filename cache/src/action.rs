//! The action cache value: what a completed stage produced.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::artifact::Artifact;
use crate::producer::Producer;

/// Version of [`ActionEntry`]'s JSON form. Entries of another version are treated as misses
/// (and quarantined), so engines should also mix this into their action keys.
pub const ACTION_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionEntry {
    pub format: u32,
    /// Output name → artifact.
    pub outputs: BTreeMap<String, Artifact>,
    pub duration_ms: u64,
    pub created_unix: u64,
    pub producer: Producer,
    /// Free-form extras, e.g. backend name or stage kind.
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl ActionEntry {
    /// An entry created now, with the current format and no metadata.
    pub fn new(
        outputs: BTreeMap<String, Artifact>,
        duration: Duration,
        producer: Producer,
    ) -> ActionEntry {
        let created_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        ActionEntry {
            format: ACTION_FORMAT,
            outputs,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            created_unix,
            producer,
            metadata: BTreeMap::new(),
        }
    }
}
