//! The link between a run and a remote cache: lookups after a local miss, uploads after an
//! execution. A remote that fails is a warning and a miss, never a failed node (sccache's
//! rule), and is not asked again during the same run.

use std::sync::atomic::{AtomicBool, Ordering};

use augflow_cache::remote::{DirRemote, Remote, RemoteError, S3Config, S3Remote};

use crate::project::{PushMode, RemoteConfig};

/// Parallel blob transfers per node.
const TRANSFERS: usize = 8;

pub struct RemoteLink {
    pub name: String,
    pub remote: Box<dyn Remote>,
    pub push: PushMode,
    pub parallel: usize,
    down: AtomicBool,
}

impl RemoteLink {
    pub fn open(name: &str, config: &RemoteConfig) -> Result<RemoteLink, RemoteError> {
        let remote: Box<dyn Remote> = match config {
            RemoteConfig::Dir { path, .. } => Box::new(DirRemote::open(path)?),
            RemoteConfig::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                ..
            } => Box::new(S3Remote::new(&S3Config {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                endpoint: endpoint.clone(),
                region: region.clone(),
            })?),
        };
        Ok(RemoteLink::new(name, remote, config.push()))
    }

    pub fn new(name: &str, remote: Box<dyn Remote>, push: PushMode) -> RemoteLink {
        RemoteLink {
            name: name.to_owned(),
            remote,
            push,
            parallel: TRANSFERS,
            down: AtomicBool::new(false),
        }
    }

    /// False once the remote has failed in this run.
    pub fn usable(&self) -> bool {
        !self.down.load(Ordering::SeqCst)
    }

    /// Marks the remote down; returns true for the first caller, who reports it.
    pub fn mark_down(&self) -> bool {
        !self.down.swap(true, Ordering::SeqCst)
    }
}
