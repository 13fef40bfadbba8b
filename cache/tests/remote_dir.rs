//! The remote scenarios against a shared folder.

mod common;
mod remote_common;

use std::fs;
use std::path::PathBuf;

use augflow_cache::remote::{DirRemote, ObjectKind, Remote, RemoteError};
use remote_common::*;

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
fn round_trip() {
    remote_common::round_trip(&Folder::new());
}

#[test]
fn push_twice() {
    remote_common::push_twice(&Folder::new());
}

#[test]
fn concurrent_push() {
    remote_common::concurrent_push(&Folder::new());
}

#[test]
fn tampered_blob() {
    remote_common::tampered_blob(&Folder::new());
}

#[test]
fn unusable_entry_is_a_miss() {
    remote_common::unusable_entry_is_a_miss(&Folder::new());
}

#[test]
fn missing_blob() {
    remote_common::missing_blob(&Folder::new());
}

#[test]
fn corrupt_local_blob_is_not_pushed() {
    remote_common::corrupt_local_blob_is_not_pushed(&Folder::new());
}

#[test]
fn gc() {
    remote_common::gc(&Folder::new());
}

#[test]
fn layout_and_format() {
    let folder = Folder::new();
    let remote = DirRemote::open(&folder.root).unwrap();
    assert_eq!(remote.describe(), format!("dir:{}", folder.root.display()));
    assert_eq!(
        fs::read_to_string(folder.root.join("FORMAT")).unwrap(),
        "augflow-remote 1\n"
    );
    let t = team();
    let d = t.a.put_bytes(b"blob").unwrap();
    remote.put_blob_from_file(&d, &t.a.blob_path(&d)).unwrap();
    // Same path scheme as the local store.
    let rel =
        t.a.blob_path(&d)
            .strip_prefix(t.a.root())
            .unwrap()
            .to_path_buf();
    assert_eq!(
        remote.object_path(ObjectKind::Blob, &d),
        folder.root.join(rel)
    );
    assert_eq!(
        fs::read(remote.object_path(ObjectKind::Blob, &d)).unwrap(),
        b"blob"
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
    let t = team();
    let entry = outputs(&t.a, t.dir.path(), "gone", "alice");
    let k = augflow_cache::Digest::of_bytes(b"gone");
    fs::rename(&folder.root, folder.root.with_extension("moved")).unwrap();
    fs::write(&folder.root, b"not a folder").unwrap();
    fails_fast(&remote, &t.a, &entry, &k);
}
