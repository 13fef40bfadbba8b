mod common;

use std::fs;
use std::time::Duration;

use augflow_cache::{Artifact, Digest, StatCache, StatCacheStats};
use common::*;

const WINDOW: Duration = Duration::from_millis(100);

fn settle() {
    std::thread::sleep(WINDOW + Duration::from_millis(100));
}

/// An in-memory cache that trusts stamps older than [`WINDOW`] (so after [`settle`]).
fn settled_cache() -> StatCache {
    let mut cache = StatCache::in_memory();
    cache.set_racy_window(WINDOW);
    cache
}

/// A file holding `bytes`, written long enough ago for [`settled_cache`] to trust it.
fn settled_file(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.txt");
    write(&file, bytes);
    settle();
    (dir, file)
}

fn cache_at(path: &std::path::Path) -> StatCache {
    let mut cache = StatCache::load(path);
    cache.set_racy_window(WINDOW);
    cache
}

#[test]
fn unchanged_file_is_not_rehashed() {
    let (_dir, file) = settled_file(b"some content");
    let cache = settled_cache();
    let first = cache.digest_file(&file).unwrap();
    assert_eq!(first, (Digest::of_bytes(b"some content"), 12));
    assert_eq!(cache.digest_file(&file).unwrap(), first);
    assert_eq!(cache.stats(), StatCacheStats { hits: 1, misses: 1 });
}

#[test]
fn recent_files_are_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.txt");
    write(&file, b"just written");
    // Default 2 s window: the file is too fresh to trust its stamp.
    let cache = StatCache::in_memory();
    cache.digest_file(&file).unwrap();
    cache.digest_file(&file).unwrap();
    assert_eq!(cache.stats().misses, 2);
    assert!(cache.is_empty());
}

#[test]
fn entries_persist_through_save_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let cache_file = dir.path().join("state/stat-cache.json");
    let tree = dir.path().join("tree");
    sample_tree(&tree);
    settle();

    let cache = cache_at(&cache_file);
    let art = cache.digest_path(&tree).unwrap();
    assert!(matches!(art, Artifact::Dir { files: 4, .. }));
    assert_eq!(cache.stats().misses, 4);
    cache.save().unwrap();
    assert!(cache_file.exists());

    let loaded = cache_at(&cache_file);
    assert_eq!(loaded.len(), 4);
    assert_eq!(loaded.digest_path(&tree).unwrap(), art);
    assert_eq!(loaded.stats(), StatCacheStats { hits: 4, misses: 0 });
    // Files looked up directly share the entries made by the walk.
    loaded.digest_file(&tree.join("a.txt")).unwrap();
    assert_eq!(loaded.stats().hits, 5);
}

#[test]
fn changed_file_is_rehashed_even_with_same_size_and_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.txt");
    write(&file, b"version 1");
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    settle();
    let cache = settled_cache();
    cache.digest_file(&file).unwrap();

    // Rewrite in place (same inode, same size) and put the old mtime back: only ctime tells.
    fs::write(&file, b"version 2").unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), mtime);
    assert_eq!(
        cache.digest_file(&file).unwrap().0,
        Digest::of_bytes(b"version 2")
    );
    assert_eq!(cache.stats().misses, 2);

    // A plain edit is caught too.
    settle();
    cache.digest_file(&file).unwrap();
    write(&file, b"version three");
    assert_eq!(
        cache.digest_file(&file).unwrap().0,
        Digest::of_bytes(b"version three")
    );
}

#[test]
fn corrupt_or_foreign_cache_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    fs::write(&path, b"\x00garbage").unwrap();
    assert!(StatCache::load(&path).is_empty());
    fs::write(&path, br#"{"format":99,"entries":{}}"#).unwrap();
    assert!(StatCache::load(&path).is_empty());
    assert!(StatCache::load(&dir.path().join("missing.json")).is_empty());
    // Saving an unchanged cache writes nothing.
    let cache = StatCache::load(&dir.path().join("untouched.json"));
    cache.save().unwrap();
    assert!(!dir.path().join("untouched.json").exists());
}

#[test]
fn vanished_file_drops_its_entry() {
    let (_dir, file) = settled_file(b"bye");
    let cache = settled_cache();
    cache.digest_file(&file).unwrap();
    assert_eq!(cache.len(), 1);
    fs::remove_file(&file).unwrap();
    assert!(cache.digest_file(&file).is_err());
    assert!(cache.is_empty());
}
