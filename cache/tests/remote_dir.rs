//! The remote scenarios against a shared folder.

mod common;
mod remote_common;

use std::fs;
use std::path::PathBuf;

use augflow_cache::remote::{DirRemote, ObjectKind, Remote, RemoteError};
use common::count_files;
use remote_common::*;

remote_common::scenario_tests!(Folder::new());

struct Folder {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Folder {
    fn new() -> Folder {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("team/augflow");
        Folder { _dir: dir, root }
    }

    /// The folder as a `shared = "group"` remote, with the default timeout.
    fn open_group_shared(&self) -> DirRemote {
        DirRemote::open_with(&self.root, true, augflow_cache::remote::DIR_TIMEOUT).unwrap()
    }
}

impl Harness for Folder {
    fn open(&self) -> Box<dyn Remote> {
        Box::new(DirRemote::open(&self.root).unwrap())
    }
    fn backing_root(&self) -> PathBuf {
        self.root.clone()
    }
    fn atomic_create(&self) -> bool {
        true
    }
}

#[test]
fn layout_and_format() {
    let folder = Folder::new();
    let remote = DirRemote::open(&folder.root).unwrap();
    assert_eq!(remote.describe(), format!("dir:{}", folder.root.display()));
    // Same path scheme as the local store, at the path the remote says.
    let (t, d) = blob_layout(&folder, &remote);
    assert_eq!(
        remote.object_path(ObjectKind::Blob, &d),
        folder.root.join(relative_blob_path(&t.a, &d))
    );
    // Only finished files: no temp left behind.
    assert_eq!(fs::read_dir(folder.root.join("tmp")).unwrap().count(), 0);

    write_foreign_format(&folder);
    let err = DirRemote::open(&folder.root).unwrap_err();
    assert!(matches!(err, RemoteError::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("augflow-remote 99"), "{err}");
}

/// The folder's mount goes away (here: a file where the folder was): every operation is an
/// error, quickly, and none panics.
#[test]
fn unavailable_folder_fails_fast() {
    let folder = Folder::new();
    let remote = DirRemote::open(&folder.root).unwrap();
    let (t, entry, k) = fails_fast_inputs("gone");
    fs::rename(&folder.root, folder.root.with_extension("moved")).unwrap();
    fs::write(&folder.root, b"not a folder").unwrap();
    fails_fast(&remote, &t.a, &entry, &k);
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A FIFO where an entry or a blob should be, or a blob symlinked to /dev/zero, is refused
/// at once: no hang, no endless download, nothing left in B's store.
#[test]
fn fifos_and_device_symlinks_are_refused_at_once() {
    let folder = Folder::new();
    let remote = DirRemote::open(&folder.root).unwrap();
    let t = team();
    let started = std::time::Instant::now();

    let k = augflow_cache::Digest::of_bytes(b"fifo entry");
    let entry_path = remote.object_path(ObjectKind::Action, &k);
    fs::create_dir_all(entry_path.parent().unwrap()).unwrap();
    mkfifo(&entry_path);
    let err = remote.get_action_bytes(&k).unwrap_err();
    assert!(matches!(err, RemoteError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("not a regular file"), "{err}");

    for (seed, zero) in [("fifo blob", false), ("zero blob", true)] {
        let k = augflow_cache::Digest::of_bytes(seed.as_bytes());
        let entry = outputs(&t.a, t.dir.path(), seed, "alice");
        augflow_cache::remote::push_action(&remote, &t.a, &k, &entry, 2).unwrap();
        let victim = entry.outputs["big.bin"].digest();
        let blob = remote.object_path(ObjectKind::Blob, &victim);
        fs::remove_file(&blob).unwrap();
        if zero {
            std::os::unix::fs::symlink("/dev/zero", &blob).unwrap();
        } else {
            mkfifo(&blob);
        }
        let pulled = augflow_cache::remote::pull_action(&remote, &t.b, &k, 2).unwrap();
        assert_eq!(pulled, None, "{seed}");
        assert!(!t.b.has_blob(&victim));
        assert!(t.b.list_actions().unwrap().is_empty());
        assert_eq!(count_files(&t.b.root().join("tmp")), 0);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// A shard folder replaced by a symlink is not written through.
#[test]
fn a_symlinked_shard_is_not_written_through() {
    let folder = Folder::new();
    let remote = DirRemote::open(&folder.root).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let k = augflow_cache::Digest::of_bytes(b"shard");
    let entry_path = remote.object_path(ObjectKind::Action, &k);
    std::os::unix::fs::symlink(elsewhere.path(), entry_path.parent().unwrap()).unwrap();
    let err = remote.put_action_bytes_if_absent(&k, b"{}").unwrap_err();
    assert!(matches!(err, RemoteError::Refused { .. }), "{err:?}");
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

/// `shared = "group"`: folders group-writable and setgid, files group-readable, whatever
/// the writer's umask; a teammate's own files are readable by the group.
#[test]
fn group_shared_folders_stay_group_writable() {
    use std::os::unix::fs::PermissionsExt;
    let folder = Folder::new();
    let remote = folder.open_group_shared();
    let t = team();
    let k = augflow_cache::Digest::of_bytes(b"group");
    let entry = outputs(&t.a, t.dir.path(), "group", "alice");
    augflow_cache::remote::push_action(&remote, &t.a, &k, &entry, 2).unwrap();
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let blob = remote.object_path(ObjectKind::Blob, &entry.outputs["small.txt"].digest());
    let action = remote.object_path(ObjectKind::Action, &k);
    for dir in [
        folder.root.clone(),
        folder.root.join("objects"),
        blob.parent().unwrap().to_path_buf(),
        action.parent().unwrap().to_path_buf(),
        folder.root.join("tmp"),
    ] {
        assert_eq!(mode(&dir), 0o2775, "{}", dir.display());
    }
    assert_eq!(mode(&blob) & 0o040, 0o040);
    assert_eq!(mode(&action), 0o664);

    // Without it, nothing is made group-writable.
    let private = Folder::new();
    let remote = DirRemote::open(&private.root).unwrap();
    augflow_cache::remote::push_action(&remote, &t.a, &k, &entry, 2).unwrap();
    assert_eq!(mode(&remote.object_path(ObjectKind::Action, &k)) & 0o020, 0);
}

/// A push that finds an old blob on the remote makes it new again, so that remote gc's
/// grace protects it until the push's entry appears; a teammate's blob, which only its
/// owner may touch, is replaced by an identical copy of ours instead.
#[test]
fn a_push_renews_old_blobs_even_a_teammates() {
    use std::os::unix::fs::MetadataExt;
    let folder = Folder::new();
    let remote = folder.open_group_shared();
    let t = team();
    let entry = outputs(&t.a, t.dir.path(), "renew", "alice");
    let first = augflow_cache::Digest::of_bytes(b"renew 1");
    augflow_cache::remote::push_action(&remote, &t.a, &first, &entry, 2).unwrap();
    age_all(&folder);
    let small = remote.object_path(ObjectKind::Blob, &entry.outputs["small.txt"].digest());
    let big = remote.object_path(ObjectKind::Blob, &entry.outputs["big.bin"].digest());
    // Only root may give a file away; elsewhere the teammate case is not exercised.
    let foreign = std::os::unix::fs::chown(&small, Some(4242), None).is_ok();

    let second = augflow_cache::Digest::of_bytes(b"renew 2");
    augflow_cache::remote::push_action(&remote, &t.a, &second, &entry, 2).unwrap();
    let age = |p: &std::path::Path| {
        std::time::SystemTime::now()
            .duration_since(fs::metadata(p).unwrap().modified().unwrap())
            .unwrap_or_default()
    };
    for blob in [&small, &big] {
        assert!(
            age(blob) < std::time::Duration::from_secs(600),
            "{}",
            blob.display()
        );
    }
    if foreign {
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        assert_eq!(fs::metadata(&small).unwrap().uid(), me);
    }
    // As if gc ran before the push's entry appeared: the blobs are unreachable but recent.
    remote.delete(ObjectKind::Action, &second).unwrap();
    let report = augflow_cache::remote::gc_remote(
        &remote,
        &std::collections::BTreeSet::new(),
        std::time::Duration::from_secs(3600),
        true,
    )
    .unwrap();
    assert_eq!(report.blobs_removed, 0, "{report:?}");
}
