mod common;

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use augflow_cache::{ACTION_FORMAT, ActionEntry, Artifact, Digest, Producer, Store};
use common::*;

fn entry_with(store: &Store, dir: &std::path::Path) -> ActionEntry {
    let tree = dir.join("tree");
    sample_tree(&tree);
    let file = dir.join("model.bin");
    write(&file, b"weights");
    let mut outputs = BTreeMap::new();
    outputs.insert("data".to_string(), store.put_artifact(&tree).unwrap());
    outputs.insert("model".to_string(), store.put_artifact(&file).unwrap());
    let mut entry = ActionEntry::new(
        outputs,
        Duration::from_millis(1234),
        Producer::current("0.1.0"),
    );
    entry
        .metadata
        .insert("backend".into(), serde_json::json!("cpu"));
    entry
}

#[test]
fn round_trip() {
    let (dir, store) = store();
    let key = Digest::of_bytes(b"stage key");
    assert_eq!(store.get_action(&key).unwrap(), None);
    let entry = entry_with(&store, dir.path());
    assert_eq!(entry.format, ACTION_FORMAT);
    assert_eq!(entry.duration_ms, 1234);
    store.put_action(&key, &entry).unwrap();
    assert_eq!(store.get_action(&key).unwrap(), Some(entry.clone()));
    assert_eq!(store.list_actions().unwrap(), vec![key]);

    // Another handle on the same root sees it.
    let again = Store::open(store.root()).unwrap();
    assert_eq!(again.get_action(&key).unwrap(), Some(entry));

    store.remove_action(&key).unwrap();
    store.remove_action(&key).unwrap();
    assert_eq!(store.get_action(&key).unwrap(), None);
    assert!(store.list_actions().unwrap().is_empty());
}

fn quarantined(store: &Store) -> Vec<String> {
    fs::read_dir(store.root().join("quarantine"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn garbage_entry_is_a_quarantined_miss() {
    let (_dir, store) = store();
    let key = Digest::of_bytes(b"k");
    let path = store
        .root()
        .join("ac")
        .join(&key.to_hex()[..2])
        .join(format!("{key}.json"));
    write(&path, b"{ not json");
    assert_eq!(store.list_actions().unwrap(), vec![key]);
    assert_eq!(store.get_action(&key).unwrap(), None);
    assert!(!path.exists());
    let q = quarantined(&store);
    assert_eq!(q.len(), 1);
    assert!(q[0].starts_with(&format!("{key}.json.")), "{q:?}");
}

#[test]
fn unknown_format_is_a_miss() {
    let (dir, store) = store();
    let key = Digest::of_bytes(b"k");
    let mut entry = entry_with(&store, dir.path());
    entry.format = 999;
    store.put_action(&key, &entry).unwrap();
    assert_eq!(store.get_action(&key).unwrap(), None);
    assert_eq!(quarantined(&store).len(), 1);
}

#[test]
fn entry_with_deleted_blob_is_a_miss() {
    let (dir, store) = store();
    let entry = entry_with(&store, dir.path());

    let key = Digest::of_bytes(b"file blob gone");
    store.put_action(&key, &entry).unwrap();
    fs::remove_file(store.blob_path(&entry.outputs["model"].digest())).unwrap();
    assert_eq!(store.get_action(&key).unwrap(), None);

    // A blob listed in a dir's manifest.
    let key2 = Digest::of_bytes(b"tree blob gone");
    let mut entry2 = entry.clone();
    entry2.outputs.remove("model");
    store.put_action(&key2, &entry2).unwrap();
    assert!(store.get_action(&key2).unwrap().is_some());
    fs::remove_file(store.blob_path(&Digest::of_bytes(b"beta"))).unwrap();
    assert_eq!(store.get_action(&key2).unwrap(), None);
    assert!(store.list_actions().unwrap().is_empty());
}

#[test]
fn artifact_json_is_tagged() {
    let art = Artifact::File {
        digest: Digest::of_bytes(b""),
        size: 0,
        executable: false,
    };
    let json = serde_json::to_string(&art).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"type":"file","digest":"{}","size":0,"executable":false}}"#,
            Digest::of_bytes(b"")
        )
    );
}
