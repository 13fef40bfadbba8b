mod common;

use std::fs;

use augflow_cache::{Artifact, CacheError, Digest};
use common::*;

#[test]
fn materialize_file() {
    let (dir, store) = store();
    let src = dir.path().join("script.sh");
    write(&src, b"#!/bin/sh\n");
    set_mode(&src, 0o755);
    let art = store.put_artifact(&src).unwrap();
    assert!(matches!(
        art,
        Artifact::File {
            executable: true,
            size: 10,
            ..
        }
    ));

    let dest = dir.path().join("out/nested/script.sh");
    store.materialize(&art, &dest).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"#!/bin/sh\n");
    assert_eq!(mode(&dest), 0o755);
    // No temp left next to it.
    assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1);

    // Overwrites different content; replaces a directory in the way.
    write(&dest, b"edited by user");
    store.materialize(&art, &dest).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"#!/bin/sh\n");
    fs::remove_file(&dest).unwrap();
    write(&dest.join("x"), b"x");
    store.materialize(&art, &dest).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"#!/bin/sh\n");

    // Same content, wrong mode: only the mode is fixed.
    set_mode(&dest, 0o644);
    store.materialize(&art, &dest).unwrap();
    assert_eq!(mode(&dest), 0o755);
    // The store's blob is not shared with the output.
    write(&dest, b"scribble");
    assert_eq!(store.read_blob(&art.digest()).unwrap(), b"#!/bin/sh\n");
}

#[test]
fn materialize_dir() {
    let (dir, store, tree, art) = store_with_sample_tree();

    let dest = dir.path().join("restored");
    store.materialize(&art, &dest).unwrap();
    assert_eq!(snapshot(&dest), snapshot(&tree));
    assert_eq!(mode(&dest.join("a.txt")), 0o644);
    assert_eq!(mode(&dest.join("bin/run.sh")), 0o755);

    // Strays are removed, edits reverted, needed dirs kept.
    write(&dest.join("stray.txt"), b"x");
    write(&dest.join("junk/deep/file"), b"x");
    write(&dest.join(".augflow-tmp-leftover"), b"x");
    write(&dest.join("sub/deeper/c.bin"), b"truncated");
    fs::remove_file(dest.join("sub/b.txt")).unwrap();
    write(&dest.join("sub/b.txt/oops"), b"a dir where a file goes");
    std::os::unix::fs::symlink("/etc", dest.join("link")).unwrap();
    store.materialize(&art, &dest).unwrap();
    assert_eq!(snapshot(&dest), snapshot(&tree));
    assert!(!dest.join("junk").exists());
    assert!(fs::symlink_metadata(dest.join("link")).is_err());
}

#[test]
fn materialize_replaces_file_with_dir() {
    let (dir, store, tree, art) = store_with_sample_tree();
    let dest = dir.path().join("out");
    write(&dest, b"a file where the dir goes");
    store.materialize(&art, &dest).unwrap();
    assert_eq!(snapshot(&dest), snapshot(&tree));
}

#[test]
fn corrupt_blob_leaves_nothing_at_dest() {
    let (dir, store) = store();
    let src = dir.path().join("data.bin");
    write(&src, &vec![42u8; 300_000]);
    let art = store.put_artifact(&src).unwrap();
    corrupt(&store.blob_path(&art.digest()));

    let dest = dir.path().join("out/data.bin");
    let err = store.materialize(&art, &dest).unwrap_err();
    assert!(
        matches!(err, CacheError::Corrupt { digest, .. } if digest == art.digest()),
        "{err:?}"
    );
    assert!(!dest.exists());
    assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 0);
    assert!(!store.has_blob(&art.digest()));
    assert_eq!(
        fs::read_dir(store.root().join("quarantine"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn missing_blob_is_reported() {
    let (dir, store) = store();
    let art = Artifact::File {
        digest: Digest::of_bytes(b"gone"),
        size: 4,
        executable: false,
    };
    let dest = dir.path().join("out");
    let err = store.materialize(&art, &dest).unwrap_err();
    assert!(matches!(err, CacheError::MissingBlob { .. }), "{err:?}");
    assert!(!dest.exists());
    assert!(!store.artifact_complete(&art).unwrap());

    let dir_art = Artifact::Dir {
        manifest: Digest::of_bytes(b"no manifest"),
        size: 0,
        files: 0,
    };
    let err = store.materialize(&dir_art, &dest).unwrap_err();
    assert!(matches!(err, CacheError::MissingBlob { .. }), "{err:?}");
    assert!(!store.artifact_complete(&dir_art).unwrap());
}
