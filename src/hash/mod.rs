//! Stage keys. A node's key is blake3 over a serialisable `StageKey`: everything that
//! can change what the node produces, and nothing else (no YAML formatting, no key order,
//! no stage name, no absolute path). `docs/caching.md` lists each field; the golden tests
//! below pin exact values so an accidental change to a key fails loudly.

mod diff;

use std::collections::BTreeMap;

use augflow_cache::Digest;
use serde::{Deserialize, Serialize};

use crate::spec::Value;

pub use diff::{KeyChange, diff_keys};

/// Bump when the meaning or layout of `StageKey` changes: every key changes with it.
pub const KEY_FORMAT: u32 = 1;

/// Domain separation: a key can never equal the digest of some file's bytes.
const KEY_DOMAIN: &[u8] = b"augflow stage key\0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageKey {
    pub format: u32,
    pub action: KeyAction,
    /// The stage's params after interpolation; maps are sorted by key.
    pub params: BTreeMap<String, Value>,
    /// Typed stages: input name → digest of the artifact feeding it.
    /// Shell stages: dependency path (relative to the pipeline file) → content digest.
    pub inputs: BTreeMap<String, Digest>,
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KeyAction {
    /// A registered kind and its version constant.
    Typed { kind: String, version: u32 },
    /// The interpolated command, its declared outputs (relative paths, in order) and the
    /// environment variables it declares (`env:`), each as a digest of its value (None when
    /// unset), so a secret's value is never written into a record. Absent when none is
    /// declared, which keeps the keys of stages without `env` as they were.
    Shell {
        cmd: String,
        outs: Vec<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, Option<Digest>>,
    },
}

impl StageKey {
    /// Canonical bytes: JSON of the struct, whose maps are all sorted.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let value = canonicalise(
            &serde_json::to_value(self).unwrap_or_else(|_| unreachable!("keys are plain data")),
        );
        serde_json::to_vec(&value).unwrap_or_else(|_| unreachable!("values serialise"))
    }

    pub fn digest(&self) -> Digest {
        let mut hasher = blake3::Hasher::new();
        hasher.update(KEY_DOMAIN);
        hasher.update(&self.canonical_bytes());
        Digest::from(hasher.finalize())
    }
}

/// Sorts every object's keys, whatever map type serde_json was built with.
fn canonicalise(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonicalise(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonicalise).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed_key() -> StageKey {
        StageKey {
            format: KEY_FORMAT,
            action: KeyAction::Typed {
                kind: "dataset.phantom".into(),
                version: 1,
            },
            params: BTreeMap::from([
                ("size".to_owned(), json!(32)),
                ("classes".to_owned(), json!({"viral": 2, "healthy": 3})),
            ]),
            inputs: BTreeMap::new(),
            seed: Some(7),
        }
    }

    fn shell_key() -> StageKey {
        StageKey {
            format: KEY_FORMAT,
            action: KeyAction::Shell {
                cmd: "python3 prep.py --lr 0.1".into(),
                outs: vec!["out/prepped".into()],
                env: BTreeMap::new(),
            },
            params: BTreeMap::from([("lr".to_owned(), json!(0.1))]),
            inputs: BTreeMap::from([("prep.py".to_owned(), Digest::of_bytes(b"print(1)\n"))]),
            seed: None,
        }
    }

    /// Golden values: if one of these changes, every user's cache is invalidated. Do it
    /// only on purpose, together with a `KEY_FORMAT` bump and a note in docs/caching.md.
    #[test]
    fn golden_keys_are_pinned() {
        assert_eq!(
            typed_key().digest().to_hex(),
            "e545c906cdaf61c045ac4826ce7d7405071f2551f41d0de4ed58d58d75320558"
        );
        assert_eq!(
            shell_key().digest().to_hex(),
            "41bd8deed17293706bbc8dd75bd9dbbe1f46e89abc7e110b340c23b9ab2b214f"
        );
    }

    #[test]
    fn nested_map_order_does_not_matter() {
        let mut reordered = typed_key();
        let mut classes = serde_json::Map::new();
        classes.insert("healthy".into(), json!(3));
        classes.insert("viral".into(), json!(2));
        reordered
            .params
            .insert("classes".into(), Value::Object(classes));
        assert_eq!(reordered.digest(), typed_key().digest());
    }

    #[test]
    fn every_field_changes_the_key() {
        let base = typed_key().digest();
        let mut k = typed_key();
        k.seed = Some(8);
        assert_ne!(k.digest(), base);
        let mut k = typed_key();
        k.params.insert("size".into(), json!(64));
        assert_ne!(k.digest(), base);
        let mut k = typed_key();
        k.action = KeyAction::Typed {
            kind: "dataset.phantom".into(),
            version: 2,
        };
        assert_ne!(k.digest(), base);
        let mut k = typed_key();
        k.inputs.insert("images".into(), Digest::of_bytes(b"x"));
        assert_ne!(k.digest(), base);
        let mut k = typed_key();
        k.format = KEY_FORMAT + 1;
        assert_ne!(k.digest(), base);
        let mut k = shell_key();
        k.action = KeyAction::Shell {
            cmd: "python3 prep.py --lr 0.1".into(),
            outs: vec!["out/other".into()],
            env: BTreeMap::new(),
        };
        assert_ne!(k.digest(), shell_key().digest());
        // A declared variable enters the key, set or not, and so does its value.
        let with_env = |value: Option<&[u8]>| {
            let mut k = shell_key();
            k.action = KeyAction::Shell {
                cmd: "python3 prep.py --lr 0.1".into(),
                outs: vec!["out/prepped".into()],
                env: BTreeMap::from([("FOO".to_owned(), value.map(Digest::of_bytes))]),
            };
            k.digest()
        };
        assert_ne!(with_env(None), shell_key().digest());
        assert_ne!(with_env(Some(b"1")), with_env(None));
        assert_ne!(with_env(Some(b"1")), with_env(Some(b"2")));
    }

    #[test]
    fn round_trips_through_json() {
        let key = shell_key();
        let text = serde_json::to_string(&key).unwrap();
        let back: StageKey = serde_json::from_str(&text).unwrap();
        assert_eq!(back, key);
        assert_eq!(back.digest(), key.digest());
    }
}
