//! A store shared by the users of one Unix group (`[store] shared = "group"`): modes hold
//! whatever the writer's umask, the mode sticks to the store, and a teammate's old blob is
//! renewed by a writer that needs it. Each test sets the umask; nextest runs every test in
//! its own process, so that is safe.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use augflow_cache::{ActionEntry, Digest, Producer, Store};

fn full_mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The mode of the shard folder that holds `blob`.
fn shard_mode(store: &Store, blob: &Digest) -> u32 {
    full_mode(store.blob_path(blob).parent().unwrap())
}

fn set_umask(mask: u32) {
    // SAFETY: umask(2) cannot fail and touches no memory.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// Writes a blob, an entry, a lock and a project record: one of each kind of file.
fn write_one_of_each(store: &Store, project: &Path) -> (Digest, Digest) {
    let blob = store.put_bytes(b"shared bytes").unwrap();
    let key = Digest::of_bytes(b"shared key");
    let entry = ActionEntry::new(BTreeMap::new(), Duration::ZERO, Producer::current("0.1.0"));
    store.put_action(&key, &entry).unwrap();
    drop(store.lock_key(&key).unwrap());
    store.register_project(project).unwrap();
    (blob, key)
}

fn files_under(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        found.push(path.clone());
        if path.is_dir() {
            files_under(&path, found);
        }
    }
}

/// A group-shared store at `<tempdir>/store`, created under `umask`.
fn group_store(umask: u32) -> (tempfile::TempDir, std::path::PathBuf, Store) {
    set_umask(umask);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open_group_shared(&root).unwrap();
    (dir, root, store)
}

#[test]
fn group_store_keeps_folders_and_metadata_group_writable_under_a_strict_umask() {
    let (dir, root, store) = group_store(0o077);
    assert!(store.is_group_shared());
    let (blob, _) = write_one_of_each(&store, &dir.path().join("project/.augflow/state"));

    assert_eq!(full_mode(&root), 0o2775, "store root");
    let mut paths = Vec::new();
    files_under(&root, &mut paths);
    for path in paths {
        let expected = if path.is_dir() {
            0o2775
        } else if path == store.blob_path(&blob) {
            0o444
        } else {
            0o664
        };
        assert_eq!(
            full_mode(&path),
            expected,
            "{}: {:o}",
            path.display(),
            full_mode(&path)
        );
    }
}

#[test]
fn the_group_mode_sticks_to_the_store_for_users_who_did_not_configure_it() {
    let (_dir, root, first) = group_store(0o077);
    drop(first);
    // A teammate whose augflow.toml says nothing about sharing.
    let store = Store::open(&root).unwrap();
    assert!(store.is_group_shared());
    let blob = store.put_bytes(b"teammate").unwrap();
    assert_eq!(shard_mode(&store, &blob), 0o2775);
}

#[test]
fn a_private_store_follows_the_umask() {
    set_umask(0o077);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    assert!(!store.is_group_shared());
    let (blob, _) = write_one_of_each(&store, &dir.path().join("project"));
    assert_eq!(shard_mode(&store, &blob), 0o700);
}

/// Only the owner of a file may set its time: a teammate's old blob that a new entry needs
/// is replaced by an identical copy of ours, so gc's grace protects it until the entry is
/// published. Run as root, the test becomes the teammate (uid and gid 4242) after writing
/// the blob; otherwise only the owner's own renewal is exercised.
#[test]
fn a_teammates_old_blob_is_renewed_as_ours() {
    let (dir, root, store) = group_store(0o022);
    let blob = store.put_bytes(b"from a teammate").unwrap();
    let path = store.blob_path(&blob);
    let old = SystemTime::now() - Duration::from_secs(7 * 24 * 3600);
    fs::File::open(&path).unwrap().set_modified(old).unwrap();

    // SAFETY: geteuid(2) cannot fail.
    let as_teammate = unsafe { libc::geteuid() } == 0;
    if as_teammate {
        const TEAM: u32 = 4242;
        let mut paths = vec![root.clone()];
        files_under(&root, &mut paths);
        for p in &paths {
            std::os::unix::fs::chown(p, None, Some(TEAM)).unwrap();
        }
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        // SAFETY: plain syscalls; this process (nextest runs one per test) stays the
        // teammate until it exits.
        unsafe {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setgid(TEAM), 0);
            assert_eq!(libc::setuid(TEAM), 0);
        }
    }
    let store = Store::open(&root).unwrap();
    assert_eq!(store.put_bytes(b"from a teammate").unwrap(), blob);
    let meta = fs::metadata(&path).unwrap();
    let age = SystemTime::now()
        .duration_since(meta.modified().unwrap())
        .unwrap_or_default();
    assert!(age < Duration::from_secs(600), "blob still {age:?} old");
    if as_teammate {
        assert_eq!(meta.uid(), 4242, "the teammate's copy replaced the blob");
        assert_eq!(fs::read(&path).unwrap(), b"from a teammate");
        assert_eq!(full_mode(&path), 0o444);
    }
}
