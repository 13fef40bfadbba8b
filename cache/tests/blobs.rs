mod common;

use std::fs;

use augflow_cache::{Artifact, CacheError, Digest, StatCache};
use common::*;

#[test]
fn put_and_read_blob() {
    let (dir, store) = store();
    let d = store.put_bytes(b"hello").unwrap();
    assert_eq!(d, Digest::of_bytes(b"hello"));
    assert!(store.has_blob(&d));
    assert_eq!(store.read_blob(&d).unwrap(), b"hello");
    assert_eq!(mode(&store.blob_path(&d)), 0o444);
    // Idempotent.
    assert_eq!(store.put_bytes(b"hello").unwrap(), d);

    let src = dir.path().join("src.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    write(&src, &data);
    let (d2, size) = store.put_file(&src).unwrap();
    assert_eq!((d2, size), (Digest::of_bytes(&data), data.len() as u64));
    assert_eq!(store.read_blob(&d2).unwrap(), data);
    assert_eq!(store.put_file(&src).unwrap(), (d2, size));
    // Temps were cleaned up.
    assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
}

#[test]
fn missing_blob() {
    let (_dir, store) = store();
    let d = Digest::of_bytes(b"never stored");
    assert!(!store.has_blob(&d));
    let err = store.read_blob(&d).unwrap_err();
    assert!(matches!(err, CacheError::MissingBlob { digest } if digest == d));
}

#[test]
fn corrupt_blob_is_quarantined() {
    let (_dir, store) = store();
    let d = store.put_bytes(b"precious data").unwrap();
    corrupt(&store.blob_path(&d));
    let err = store.read_blob(&d).unwrap_err();
    let CacheError::Corrupt { digest, path } = err else {
        panic!("expected Corrupt, got {err:?}");
    };
    assert_eq!(digest, d);
    assert!(path.starts_with(store.root().join("quarantine")));
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&d.to_hex())
    );
    assert!(path.exists());
    assert!(!store.has_blob(&d));
    // Storing it again repairs the store.
    store.put_bytes(b"precious data").unwrap();
    assert_eq!(store.read_blob(&d).unwrap(), b"precious data");
}

#[test]
fn put_artifact_agrees_with_stat_cache() {
    let (_dir, store, tree, stored) = store_with_sample_tree();
    let hashed = StatCache::in_memory().digest_path(&tree).unwrap();
    assert_eq!(stored, hashed);
    let Artifact::Dir {
        manifest,
        files,
        size,
    } = stored
    else {
        panic!("expected a dir artifact");
    };
    assert_eq!(files, 4);
    assert_eq!(size, 5 + 4 + (1 << 20) + 3 + 18);
    let tree_manifest = store.read_manifest(&manifest).unwrap();
    assert!(tree_manifest.entries["bin/run.sh"].executable);
    assert!(!tree_manifest.entries["a.txt"].executable);
    assert!(tree_manifest.entries.contains_key("sub/deeper/c.bin"));

    let file = tree.join("bin/run.sh");
    assert_eq!(
        store.put_artifact(&file).unwrap(),
        StatCache::in_memory().digest_path(&file).unwrap()
    );
    assert!(store.artifact_complete(&stored).unwrap());
    assert!(store.verify_artifact(&stored).unwrap().is_empty());
}

#[test]
fn symlink_inside_dir_is_an_error() {
    let (dir, store) = store();
    let tree = dir.path().join("tree");
    write(&tree.join("a"), b"a");
    std::os::unix::fs::symlink("a", tree.join("link")).unwrap();
    assert!(matches!(
        store.put_artifact(&tree),
        Err(CacheError::Symlink { .. })
    ));
    let err = StatCache::in_memory().digest_path(&tree).unwrap_err();
    assert!(matches!(err, CacheError::Symlink { .. }), "{err:?}");
    let err = StatCache::in_memory()
        .digest_path(&dir.path().join("nope"))
        .unwrap_err();
    assert!(matches!(err, CacheError::Missing { .. }), "{err:?}");
}

#[test]
fn verify_artifact_finds_corruption() {
    let (_dir, store, _tree, art) = store_with_sample_tree();
    let bad = Digest::of_bytes(b"beta");
    corrupt(&store.blob_path(&bad));
    assert_eq!(store.verify_artifact(&art).unwrap(), vec![bad]);
    assert!(!store.has_blob(&bad));
    assert!(!store.artifact_complete(&art).unwrap());
}
