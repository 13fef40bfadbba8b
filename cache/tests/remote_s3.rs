//! The remote scenarios against an S3-compatible server (s3s-fs) on 127.0.0.1.

mod common;
mod remote_common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use augflow_cache::remote::{ObjectKind, Remote, RemoteError};
use remote_common::s3_server::S3Server;
use remote_common::*;

impl Harness for S3Server {
    fn open(&self) -> Box<dyn Remote> {
        Box::new(self.client())
    }
    fn backing_root(&self) -> PathBuf {
        S3Server::backing_root(self)
    }
    /// s3s-fs checks If-None-Match: * before writing, not atomically with the write: two
    /// creates in flight at once can both succeed (the later rename wins).
    fn atomic_create(&self) -> bool {
        false
    }
}

#[test]
fn round_trip() {
    remote_common::round_trip(&S3Server::start());
}

#[test]
fn push_twice() {
    remote_common::push_twice(&S3Server::start());
}

#[test]
fn concurrent_push() {
    remote_common::concurrent_push(&S3Server::start());
}

#[test]
fn tampered_blob() {
    remote_common::tampered_blob(&S3Server::start());
}

#[test]
fn unusable_entry_is_a_miss() {
    remote_common::unusable_entry_is_a_miss(&S3Server::start());
}

#[test]
fn missing_blob() {
    remote_common::missing_blob(&S3Server::start());
}

#[test]
fn corrupt_local_blob_is_not_pushed() {
    remote_common::corrupt_local_blob_is_not_pushed(&S3Server::start());
}

#[test]
fn gc() {
    remote_common::gc(&S3Server::start());
}

#[test]
fn layout_and_format() {
    let server = S3Server::start();
    let remote = server.client();
    assert_eq!(
        remote.describe(),
        format!("s3://team-cache/studies/augflow (http://{})", server.addr)
    );
    let root = server.backing_root();
    assert_eq!(
        std::fs::read_to_string(root.join("FORMAT")).unwrap(),
        "augflow-remote 1\n"
    );
    let t = team();
    let d = t.a.put_bytes(b"blob").unwrap();
    remote.put_blob_from_file(&d, &t.a.blob_path(&d)).unwrap();
    let rel =
        t.a.blob_path(&d)
            .strip_prefix(t.a.root())
            .unwrap()
            .to_path_buf();
    assert_eq!(std::fs::read(root.join(rel)).unwrap(), b"blob");
    let listed = remote.list(ObjectKind::Blob).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].digest, listed[0].size), (d, 4));

    // Above 8 MiB a blob goes multipart: start + 2 parts + completion.
    let big = t.dir.path().join("big");
    std::fs::write(&big, vec![3u8; BIG]).unwrap();
    let (d, _) = t.a.put_file(&big).unwrap();
    let before = remote.stats();
    remote.put_blob_from_file(&d, &t.a.blob_path(&d)).unwrap();
    let after = remote.stats();
    assert_eq!(after.puts - before.puts, 4, "{after:?}");
    assert_eq!(after.bytes_uploaded - before.bytes_uploaded, BIG as u64);
    let rel =
        t.a.blob_path(&d)
            .strip_prefix(t.a.root())
            .unwrap()
            .to_path_buf();
    assert_eq!(std::fs::read(root.join(rel)).unwrap(), vec![3u8; BIG]);

    write_foreign_format(&server);
    let err = server
        .client_with_secret("augflow-test-secret")
        .unwrap_err();
    assert!(matches!(err, RemoteError::Format { .. }), "{err:?}");
}

/// Wrong credentials are an error at open, naming the remote.
#[test]
fn bad_credentials_fail_at_open() {
    let server = S3Server::start();
    let start = Instant::now();
    let err = server.client_with_secret("wrong").unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(15));
    assert!(matches!(err, RemoteError::S3 { .. }), "{err:?}");
    assert!(err.to_string().contains("s3://team-cache"), "{err}");
}

/// The server dies: every operation is an error within seconds, and none panics.
#[test]
fn stopped_server_fails_fast() {
    let mut server = S3Server::start();
    let remote = server.client();
    let t = team();
    let entry = outputs(&t.a, t.dir.path(), "dead", "alice");
    let k = augflow_cache::Digest::of_bytes(b"dead");
    remote_common::push_twice(&server);
    server.stop();
    let start = Instant::now();
    fails_fast(&remote, &t.a, &entry, &k);
    eprintln!("all operations failed in {:?}", start.elapsed());
    let err = server
        .client_with_secret("augflow-test-secret")
        .unwrap_err();
    assert!(matches!(err, RemoteError::S3 { .. }), "{err:?}");
}

#[test]
fn broken_entries_are_misses() {
    remote_common::trust::broken_entries_are_misses(&S3Server::start());
}

#[test]
fn downloads_stop_at_the_declared_size() {
    remote_common::trust::downloads_stop_at_the_declared_size(&S3Server::start());
}

#[test]
fn push_reuploads_missing_blobs() {
    remote_common::trust::push_reuploads_missing_blobs(&S3Server::start());
}

#[test]
fn broken_entries_are_replaced_only_by_repair() {
    remote_common::trust::broken_entries_are_replaced_only_by_repair(&S3Server::start());
}

#[test]
fn signed_remotes_ignore_untrusted_writers() {
    remote_common::trust::signed_remotes_ignore_untrusted_writers(&S3Server::start());
}
