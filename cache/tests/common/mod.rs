//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use augflow_cache::{Artifact, Store};

pub fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

pub fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A tree with nested dirs, an executable and a > 1 MiB file.
pub fn sample_tree(root: &Path) {
    write(&root.join("a.txt"), b"alpha");
    write(&root.join("sub/b.txt"), b"beta");
    write(&root.join("sub/deeper/c.bin"), &vec![7u8; (1 << 20) + 3]);
    write(&root.join("bin/run.sh"), b"#!/bin/sh\necho hi\n");
    set_mode(&root.join("bin/run.sh"), 0o755);
    fs::create_dir_all(root.join("empty")).unwrap();
}

/// A fresh [`store`] holding [`sample_tree`], written at `<dir>/tree`: the temp dir, the
/// store, the tree's path and the tree's artifact.
pub fn store_with_sample_tree() -> (tempfile::TempDir, Store, PathBuf, Artifact) {
    let (dir, store) = store();
    let tree = dir.path().join("tree");
    sample_tree(&tree);
    let art = store.put_artifact(&tree).unwrap();
    (dir, store, tree, art)
}

/// Relative path → (bytes, executable) of every file under `root`.
pub fn snapshot(root: &Path) -> Vec<(String, Vec<u8>, bool)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let exec = mode(entry.path()) & 0o111 != 0;
            out.push((rel, fs::read(entry.path()).unwrap(), exec));
        }
    }
    out
}

/// Flips one byte of a file in place, even if it is read-only.
pub fn corrupt(path: &Path) {
    set_mode(path, 0o644);
    let mut bytes = fs::read(path).unwrap();
    bytes[0] ^= 0xff;
    fs::write(path, bytes).unwrap();
}

pub fn count_files(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count()
}
