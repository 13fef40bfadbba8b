mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::{Duration, SystemTime};

use augflow_cache::{ActionEntry, Digest, Producer, Store};
use common::*;

/// Stores `content` as a one-file entry (or a dir when `as_dir`) under `key`.
fn publish(
    store: &Store,
    dir: &std::path::Path,
    key: &[u8],
    content: &[u8],
    as_dir: bool,
) -> Digest {
    let name = String::from_utf8_lossy(key).to_string();
    let path = dir.join("src").join(&name);
    let target = if as_dir {
        path.join("inner/file")
    } else {
        path.clone()
    };
    write(&target, content);
    let mut outputs = BTreeMap::new();
    outputs.insert("out".to_string(), store.put_artifact(&path).unwrap());
    let entry = ActionEntry::new(outputs, Duration::ZERO, Producer::current("test"));
    let key = Digest::of_bytes(key);
    store.put_action(&key, &entry).unwrap();
    key
}

fn set_old(path: &std::path::Path) {
    let file = fs::File::open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
}

fn age_everything(store: &Store) {
    for entry in walkdir::WalkDir::new(store.root()) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            set_old(entry.path());
        }
    }
}

#[test]
fn gc_keeps_reachable_and_removes_the_rest() {
    let (dir, store) = store();
    let kept_file = publish(&store, dir.path(), b"kept-file", b"keep me", false);
    let kept_dir = publish(&store, dir.path(), b"kept-dir", b"keep me too", true);
    let dropped = publish(&store, dir.path(), b"dropped", b"drop me", true);
    store.put_bytes(b"orphan").unwrap();
    write(&store.root().join("tmp/.augflow-tmp-dead"), b"partial");
    let quarantined = format!("{}.json.123", Digest::of_bytes(b"bad").to_hex());
    write(&store.root().join("quarantine").join(&quarantined), b"bad");
    // Names gc never creates: never its to delete, however old.
    write(&store.root().join("tmp/users-own-file"), b"foreign");
    write(&store.root().join("quarantine/notes.txt"), b"foreign");
    age_everything(&store);

    let keep = BTreeSet::from([kept_file, kept_dir]);
    let before = count_files(store.root());
    let dry = store.gc(&keep, Duration::from_secs(60), true).unwrap();
    assert_eq!(count_files(store.root()), before, "dry run removes nothing");
    assert_eq!(dry.actions_removed, 1);
    // dropped: file blob + manifest; orphan.
    assert_eq!(dry.blobs_removed, 3);
    assert_eq!(dry.temps_removed, 1);
    assert_eq!(dry.quarantine_removed, 1);
    assert_eq!(dry.kept_actions, 2);
    // kept-file blob; kept-dir file blob + manifest.
    assert_eq!(dry.kept_blobs, 3);

    let real = store.gc(&keep, Duration::from_secs(60), false).unwrap();
    assert_eq!(format!("{real:?}"), format!("{dry:?}"));
    assert!(real.bytes_freed > 0);
    assert!(store.get_action(&kept_file).unwrap().is_some());
    assert!(store.get_action(&kept_dir).unwrap().is_some());
    assert!(store.get_action(&dropped).unwrap().is_none());
    assert!(!store.has_blob(&Digest::of_bytes(b"orphan")));
    assert!(!store.has_blob(&Digest::of_bytes(b"drop me")));
    assert!(store.has_blob(&Digest::of_bytes(b"keep me too")));
    let names = |dir: &str| -> Vec<String> {
        fs::read_dir(store.root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names("tmp"), ["users-own-file"]);
    assert_eq!(names("quarantine"), ["notes.txt"]);

    // Nothing more to do.
    let again = store.gc(&keep, Duration::from_secs(60), false).unwrap();
    assert_eq!((again.actions_removed, again.blobs_removed), (0, 0));
}

#[test]
fn gc_grace_protects_recent_work() {
    let (dir, store) = store();
    let recent = publish(&store, dir.path(), b"recent", b"fresh output", true);
    store.put_bytes(b"fresh orphan").unwrap();
    write(
        &store.root().join("tmp/.augflow-tmp-live"),
        b"being written",
    );

    let report = store
        .gc(&BTreeSet::new(), Duration::from_secs(600), false)
        .unwrap();
    assert_eq!(
        report.actions_removed + report.blobs_removed + report.temps_removed,
        0
    );
    assert!(store.get_action(&recent).unwrap().is_some());
    assert!(store.has_blob(&Digest::of_bytes(b"fresh orphan")));

    // An old orphan that is stored again is refreshed, so grace protects it.
    age_everything(&store);
    store.put_bytes(b"fresh orphan").unwrap();
    let report = store
        .gc(&BTreeSet::new(), Duration::from_secs(600), false)
        .unwrap();
    assert!(store.has_blob(&Digest::of_bytes(b"fresh orphan")));
    assert_eq!(report.actions_removed, 1);
    assert_eq!(report.temps_removed, 1);
}
