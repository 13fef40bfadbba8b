//! The link between a run and a remote cache: lookups after a local miss, uploads after an
//! execution. A remote that fails is a warning and a miss, never a failed node (sccache's
//! rule), and is not asked again during the same run.
//!
//! Opening a remote also applies the user's side of the trust rules (docs/remote-cache.md,
//! "Threat model"): a folder remote inside the working tree is refused, S3 over plain http
//! to another machine needs `allow_http`, and entries are signed and checked when the remote
//! lists trusted writers.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use augflow_cache::remote::{
    DIR_TIMEOUT, DirRemote, Remote, RemoteError, S3Config, S3Remote, SignedRemote, SigningConfig,
    parse_key_hex,
};

use crate::project::{Project, PushMode, RemoteConfig, SharedMode};

/// Parallel blob transfers per node.
const TRANSFERS: usize = 8;
/// A key file holds 64 hex digits and maybe a newline.
const MAX_KEY_FILE_BYTES: u64 = 4096;

pub struct RemoteLink {
    pub name: String,
    pub remote: Box<dyn Remote>,
    pub push: PushMode,
    pub parallel: usize,
    down: AtomicBool,
}

impl RemoteLink {
    /// Opens remote `name` of `project` as `config` defines it (the caller has checked that
    /// the user trusts that definition).
    pub fn open(
        name: &str,
        config: &RemoteConfig,
        project: &Project,
    ) -> Result<RemoteLink, RemoteError> {
        let describe = || format!("`{name}`");
        let inner: Box<dyn Remote> = match config {
            RemoteConfig::Dir {
                path,
                shared,
                timeout_seconds,
                ..
            } => {
                let tree = work_tree(&project.root);
                if is_within(path, &tree) {
                    return Err(RemoteError::Config {
                        remote: describe(),
                        reason: format!(
                            "its folder {} is inside the working tree {}: a branch could \
                             plant entries there; use a folder outside it",
                            path.display(),
                            tree.display()
                        ),
                    });
                }
                let timeout = timeout_seconds.map_or(DIR_TIMEOUT, Duration::from_secs);
                Box::new(DirRemote::open_with(
                    path,
                    *shared == SharedMode::Group,
                    timeout,
                )?)
            }
            RemoteConfig::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                allow_http,
                ..
            } => {
                if let Some(endpoint) = endpoint
                    && plain_http_elsewhere(endpoint)
                    && !allow_http
                {
                    return Err(RemoteError::Config {
                        remote: describe(),
                        reason: format!(
                            "endpoint {endpoint} is plain http to another machine, which \
                             exposes requests and results on the network; add \
                             `allow_http = true` to the remote if that is intended"
                        ),
                    });
                }
                Box::new(S3Remote::new(&S3Config {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    endpoint: endpoint.clone(),
                    region: region.clone(),
                })?)
            }
        };
        let signing = signing_config(name, config, project.signing_key.as_deref())?;
        let remote = SignedRemote::new(inner, &signing)?;
        Ok(RemoteLink::new(name, Box::new(remote), config.push()))
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

/// Trusted writers from the remote's definition and, in signed mode, the user's key.
fn signing_config(
    name: &str,
    config: &RemoteConfig,
    key_file: Option<&Path>,
) -> Result<SigningConfig, RemoteError> {
    let config_err = |reason: String| RemoteError::Config {
        remote: format!("`{name}`"),
        reason,
    };
    let mut signing = SigningConfig::default();
    for (writer, hex) in config.writers() {
        let key = parse_key_hex(hex).ok_or_else(|| {
            config_err(format!(
                "writer `{writer}` has no valid public key (64 hex digits expected)"
            ))
        })?;
        signing.writers.insert(writer.clone(), key);
    }
    if signing.writers.is_empty() {
        return Ok(signing);
    }
    if let Some(path) = key_file {
        let text = read_key_file(path)
            .map_err(|e| config_err(format!("cannot read signing key {}: {e}", path.display())))?;
        let secret = parse_key_hex(&text).ok_or_else(|| {
            config_err(format!(
                "signing key {} does not hold 64 hex digits",
                path.display()
            ))
        })?;
        signing.secret = Some(secret);
    }
    Ok(signing)
}

fn read_key_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

/// The git working tree holding `root` (the folder with `.git`), else `root` itself.
pub fn work_tree(root: &Path) -> PathBuf {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    root.ancestors()
        .find(|dir| dir.join(".git").symlink_metadata().is_ok())
        .unwrap_or(&root)
        .to_path_buf()
}

/// True if `path` (which may not exist yet) is `tree` or below it, symlinks resolved.
pub fn is_within(path: &Path, tree: &Path) -> bool {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // Resolve the longest existing ancestor; the rest is appended lexically.
    let mut rest = Vec::new();
    let mut existing = path.as_path();
    let resolved = loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            break real;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break existing.to_path_buf(),
        }
    };
    let mut full = resolved;
    for part in rest.iter().rev() {
        full.push(part);
    }
    let normal: PathBuf = full.components().fold(PathBuf::new(), |mut acc, c| {
        match c {
            Component::ParentDir => {
                acc.pop();
            }
            Component::CurDir => {}
            other => acc.push(other),
        }
        acc
    });
    normal.starts_with(tree)
}

/// `http://` to a host other than this machine.
fn plain_http_elsewhere(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_is_allowed_without_asking() {
        for local in [
            "http://127.0.0.1:9000",
            "http://localhost:9000/",
            "http://[::1]:9000",
            "https://minio.lab:9000",
        ] {
            assert!(!plain_http_elsewhere(local), "{local}");
        }
        for remote in [
            "http://minio.lab:9000",
            "http://10.0.0.5",
            "http://127.0.0.1.evil.example:9000",
            "http://user@minio.lab",
        ] {
            assert!(plain_http_elsewhere(remote), "{remote}");
        }
    }

    #[test]
    fn folders_inside_the_tree_are_found_through_dots_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let tree = std::fs::canonicalize(dir.path()).unwrap().join("repo");
        std::fs::create_dir_all(tree.join(".git")).unwrap();
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        assert_eq!(work_tree(&tree.join("sub")), tree);
        assert!(is_within(&tree.join("sub/not-yet/cache"), &tree));
        assert!(is_within(&tree.join("../repo/cache"), &tree));
        assert!(!is_within(&tree.join("../outside"), &tree));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&tree, &link).unwrap();
        assert!(is_within(&link.join("cache"), &tree));
    }
}
