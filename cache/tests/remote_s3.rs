//! The remote scenarios against an S3-compatible server (s3s-fs) on 127.0.0.1.

mod common;
mod remote_common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use augflow_cache::remote::{ObjectKind, Remote, RemoteError};
use remote_common::s3_server::S3Server;
use remote_common::*;

remote_common::scenario_tests!(S3Server::start());

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
fn layout_and_format() {
    let server = S3Server::start();
    let remote = server.client();
    assert_eq!(
        remote.describe(),
        format!("s3://team-cache/studies/augflow (http://{})", server.addr)
    );
    let (t, d) = blob_layout(&server, &remote);
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
    let rel = relative_blob_path(&t.a, &d);
    assert_eq!(
        std::fs::read(server.backing_root().join(rel)).unwrap(),
        vec![3u8; BIG]
    );

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
    let (t, entry, k) = fails_fast_inputs("dead");
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
