//! Request counters shared by both backends.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Requests made to a remote so far. For [`super::DirRemote`] a "request" is the file
/// operation standing in for it (read = GET, write = PUT, stat = HEAD, one LIST per
/// [`super::Remote::list`] call); for S3 a LIST is one page of up to 1000 keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RemoteStats {
    pub gets: u64,
    pub puts: u64,
    pub heads: u64,
    pub lists: u64,
    pub deletes: u64,
    pub bytes_downloaded: u64,
    pub bytes_uploaded: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    gets: AtomicU64,
    puts: AtomicU64,
    heads: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
    bytes_downloaded: AtomicU64,
    bytes_uploaded: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn get(&self) {
        add(&self.gets, 1);
    }
    pub(crate) fn put(&self) {
        add(&self.puts, 1);
    }
    pub(crate) fn puts(&self, n: u64) {
        add(&self.puts, n);
    }
    pub(crate) fn head(&self) {
        add(&self.heads, 1);
    }
    pub(crate) fn list(&self, pages: u64) {
        add(&self.lists, pages);
    }
    pub(crate) fn delete(&self) {
        add(&self.deletes, 1);
    }
    pub(crate) fn downloaded(&self, bytes: u64) {
        add(&self.bytes_downloaded, bytes);
    }
    pub(crate) fn uploaded(&self, bytes: u64) {
        add(&self.bytes_uploaded, bytes);
    }

    pub(crate) fn snapshot(&self) -> RemoteStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RemoteStats {
            gets: load(&self.gets),
            puts: load(&self.puts),
            heads: load(&self.heads),
            lists: load(&self.lists),
            deletes: load(&self.deletes),
            bytes_downloaded: load(&self.bytes_downloaded),
            bytes_uploaded: load(&self.bytes_uploaded),
        }
    }
}
