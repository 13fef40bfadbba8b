//! A remote in an S3 bucket (AWS, MinIO, R2, …) through `object_store`, behind a blocking
//! facade: the crate stays synchronous and S3Remote owns a small tokio runtime.

use std::future::Future;
use std::path::Path as FsPath;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, RetryConfig,
};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

use super::bounded::{self, Bounded, MAX_ENTRY_BYTES, MAX_SIGNATURE_BYTES};
use super::layout::{self, FORMAT_FILE};
use super::stats::Counters;
use super::{ObjectKind, Remote, RemoteError, RemoteObject, RemoteStats};
use crate::digest::Digest;

/// Where an S3 remote lives, as written in `augflow.toml`. Credentials are deliberately not
/// here: they come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_PROFILE`-less web identity…) or the instance's credential chain,
/// never from a file that gets committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// Folder inside the bucket, e.g. "team/augflow"; "" for the bucket's root.
    #[serde(default)]
    pub prefix: String,
    /// e.g. "http://127.0.0.1:9000" for MinIO; None for AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

/// Few, quick retries: a dead or unreachable server must fail in seconds, and callers treat
/// the failure as a miss (sccache's rule) rather than wait minutes as the default would.
const MAX_RETRIES: usize = 3;
const RETRY_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-request limits. No short total timeout: a multi-GiB download is one request. A
/// stalled connection is caught by the read timeout (which also bounds the wait for the
/// response headers, hence a part upload: parts stay small enough to send within it).
const CONNECT_TIMEOUT: &str = "5 seconds";
const READ_TIMEOUT: &str = "60 seconds";
const REQUEST_TIMEOUT: &str = "6 hours";
/// The FORMAT object is one short line.
const FORMAT_MAX: u64 = 256;

/// A remote cache in an S3 bucket. Its methods block on an internal runtime, so they must
/// not be called from inside an async context.
pub struct S3Remote {
    pub(super) store: AmazonS3,
    prefix: Path,
    pub(super) describe: String,
    pub(super) stats: Counters,
    rt: Runtime,
}

impl std::fmt::Debug for S3Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Remote")
            .field("remote", &self.describe)
            .finish_non_exhaustive()
    }
}

impl S3Remote {
    /// Connects to the bucket with credentials from the environment or the usual AWS
    /// credential chain, then checks (or creates) `<prefix>/FORMAT`: this makes one or two
    /// requests, so an unreachable server is an error here already.
    pub fn new(config: &S3Config) -> Result<S3Remote, RemoteError> {
        S3Remote::with_builder(config, AmazonS3Builder::from_env())
    }

    /// Like [`S3Remote::new`] with explicit static credentials instead of the environment:
    /// for tests and for programs that obtain keys themselves (never from a pipeline file).
    pub fn with_static_credentials(
        config: &S3Config,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<S3Remote, RemoteError> {
        let builder = AmazonS3Builder::new()
            .with_access_key_id(access_key_id)
            .with_secret_access_key(secret_access_key);
        S3Remote::with_builder(config, builder)
    }

    fn with_builder(config: &S3Config, builder: AmazonS3Builder) -> Result<S3Remote, RemoteError> {
        let describe = describe(config);
        let prefix =
            Path::parse(config.prefix.trim_matches('/')).map_err(|e| RemoteError::Config {
                remote: describe.clone(),
                reason: format!("prefix {:?} is not a valid object path: {e}", config.prefix),
            })?;
        let store = configure(builder, config)
            .build()
            .map_err(|e| RemoteError::Client {
                remote: describe.clone(),
                source: Box::new(e),
            })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("augflow-s3")
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Runtime {
                remote: describe.clone(),
                source: e,
            })?;
        let remote = S3Remote {
            store,
            prefix,
            describe,
            stats: Counters::default(),
            rt,
        };
        remote.check_format()?;
        Ok(remote)
    }

    /// The full key of `name` (relative to the prefix).
    pub(super) fn path(&self, name: &str) -> Path {
        name.split('/')
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    pub(super) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// Maps an object_store error on object `name`; NotFound gets its own variant.
    pub(super) fn err(&self, op: &'static str, name: &str, e: object_store::Error) -> RemoteError {
        match e {
            object_store::Error::NotFound { .. } => RemoteError::NotFound {
                op,
                remote: self.describe.clone(),
                path: name.to_string(),
            },
            e => RemoteError::S3 {
                op,
                remote: self.describe.clone(),
                path: name.to_string(),
                source: Box::new(e),
            },
        }
    }

    fn check_format(&self) -> Result<(), RemoteError> {
        let expected = layout::format_contents();
        let found = match self.get_bytes(FORMAT_FILE, FORMAT_MAX)? {
            Some(found) => found,
            None => {
                // Created at most once; losing the race to a teammate is fine.
                self.put_if_absent(FORMAT_FILE, expected.as_bytes())?;
                match self.get_bytes(FORMAT_FILE, FORMAT_MAX)? {
                    Some(found) => found,
                    None => expected.clone().into_bytes(),
                }
            }
        };
        if found != expected.as_bytes() {
            return Err(RemoteError::Format {
                remote: self.describe.clone(),
                path: FORMAT_FILE.to_string(),
                found: String::from_utf8_lossy(&found).trim_end().to_string(),
            });
        }
        Ok(())
    }

    /// A whole (small) object, or None if absent; the download stops past `max` bytes.
    fn get_bytes(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        let mut bytes = Vec::new();
        match self.get_bounded(name, &mut bytes, max) {
            Ok(_) => Ok(Some(bytes)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Streams object `name` into `out`, stopping with [`RemoteError::Refused`] once more
    /// than `max` bytes arrived or on Ctrl-C. Returns the bytes written.
    pub(super) fn get_bounded(
        &self,
        name: &str,
        out: &mut impl std::io::Write,
        max: u64,
    ) -> Result<u64, RemoteError> {
        let path = self.path(name);
        self.stats.get();
        let refused = |reason| RemoteError::Refused {
            op: "download",
            remote: self.describe.clone(),
            path: name.to_string(),
            reason,
        };
        let written = self.block_on(async {
            let got = self.store.get(&path).await;
            let mut stream = got
                .map_err(|e| self.err("download", name, e))?
                .into_stream();
            let mut written = 0u64;
            while let Some(chunk) = stream
                .try_next()
                .await
                .map_err(|e| self.err("download", name, e))?
            {
                written += chunk.len() as u64;
                if written > max {
                    return Err(refused(Bounded::TooLarge { max }));
                }
                if bounded::interrupted() {
                    return Err(refused(Bounded::Interrupted));
                }
                // A blocking write, on the caller's thread that drives block_on: fine.
                out.write_all(&chunk).map_err(|e| RemoteError::Local {
                    op: "write",
                    path: std::path::PathBuf::from(name),
                    source: e,
                })?;
            }
            Ok::<u64, RemoteError>(written)
        })?;
        self.stats.downloaded(written);
        Ok(written)
    }

    fn put_overwrite(&self, name: &str, bytes: &[u8]) -> Result<(), RemoteError> {
        self.stats.put();
        let path = self.path(name);
        let put = self
            .store
            .put_opts(&path, bytes.to_vec().into(), PutOptions::default());
        self.block_on(put)
            .map_err(|e| self.err("upload", name, e))?;
        self.stats.uploaded(bytes.len() as u64);
        Ok(())
    }

    fn put_if_absent(&self, name: &str, bytes: &[u8]) -> Result<bool, RemoteError> {
        let path = self.path(name);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.stats.put();
        let payload = bytes.to_vec().into();
        match self.block_on(self.store.put_opts(&path, payload, opts)) {
            Ok(_) => {
                self.stats.uploaded(bytes.len() as u64);
                Ok(true)
            }
            // 412 (If-None-Match failed) and 409 (a concurrent conditional write won) both
            // mean someone else's entry is, or is about to be, there.
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(self.err("create", name, e)),
        }
    }
}

fn describe(config: &S3Config) -> String {
    let prefix = config.prefix.trim_matches('/');
    let mut s = format!("s3://{}", config.bucket);
    if !prefix.is_empty() {
        s.push('/');
        s.push_str(prefix);
    }
    if let Some(endpoint) = &config.endpoint {
        s.push_str(&format!(" ({endpoint})"));
    }
    s
}

/// Applies our settings over whatever the builder holds (environment, credentials).
fn configure(builder: AmazonS3Builder, config: &S3Config) -> AmazonS3Builder {
    let mut builder = builder
        .with_bucket_name(&config.bucket)
        // The default, but AWS_CONDITIONAL_PUT=disabled in the environment would otherwise
        // turn every entry push into an error.
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
        });
    for (key, value) in [
        (ClientConfigKey::ConnectTimeout, CONNECT_TIMEOUT),
        (ClientConfigKey::ReadTimeout, READ_TIMEOUT),
        (ClientConfigKey::Timeout, REQUEST_TIMEOUT),
    ] {
        builder = builder.with_config(AmazonS3ConfigKey::Client(key), value);
    }
    if let Some(region) = &config.region {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = &config.endpoint {
        // A custom endpoint is MinIO-style: path-style requests (bucket in the path, not in
        // the host name), and plain http allowed when the endpoint says so.
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    builder
}

impl Remote for S3Remote {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn get_action_bytes(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        self.get_bytes(
            &layout::object_name(ObjectKind::Action, key),
            MAX_ENTRY_BYTES,
        )
    }

    fn get_signature_bytes(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        self.get_bytes(&layout::signature_name(key), MAX_SIGNATURE_BYTES)
    }

    fn put_signature_bytes(&self, key: &Digest, bytes: &[u8]) -> Result<(), RemoteError> {
        self.put_overwrite(&layout::signature_name(key), bytes)
    }

    fn delete_signature(&self, key: &Digest) -> Result<(), RemoteError> {
        let name = layout::signature_name(key);
        self.stats.delete();
        match self.block_on(self.store.delete(&self.path(&name))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", &name, e)),
        }
    }

    fn put_action_bytes(&self, key: &Digest, bytes: &[u8]) -> Result<(), RemoteError> {
        self.put_overwrite(&layout::object_name(ObjectKind::Action, key), bytes)
    }

    fn put_action_bytes_if_absent(&self, key: &Digest, bytes: &[u8]) -> Result<bool, RemoteError> {
        self.put_if_absent(&layout::object_name(ObjectKind::Action, key), bytes)
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, RemoteError> {
        let name = layout::object_name(ObjectKind::Blob, digest);
        self.stats.head();
        match self.block_on(self.store.head(&self.path(&name))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err("look up", &name, e)),
        }
    }

    fn get_blob_to_file(
        &self,
        digest: &Digest,
        dest: &FsPath,
        max: u64,
    ) -> Result<(), RemoteError> {
        self.download_blob(digest, dest, max)
    }

    fn put_blob_from_file(&self, digest: &Digest, src: &FsPath) -> Result<(), RemoteError> {
        self.upload_blob(digest, src)
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<RemoteObject>, RemoteError> {
        let top = layout::kind_dir(kind);
        let dir = self.path(top);
        let metas: Vec<_> = self
            .block_on(self.store.list(Some(&dir)).try_collect())
            .map_err(|e| self.err("list", top, e))?;
        // S3 returns up to 1000 keys per page.
        self.stats.list((metas.len() as u64).div_ceil(1000).max(1));
        let mut out = Vec::new();
        for meta in metas {
            let Some(parts) = meta.location.prefix_match(&dir) else {
                continue;
            };
            let parts: Vec<_> = parts.collect();
            let [shard, name] = parts.as_slice() else {
                continue;
            };
            if let Some(digest) = layout::parse_name(kind, shard.as_ref(), name.as_ref()) {
                out.push(RemoteObject {
                    digest,
                    size: meta.size,
                    last_modified: meta.last_modified.into(),
                });
            }
        }
        out.sort_by_key(|o| o.digest);
        Ok(out)
    }

    fn delete(&self, kind: ObjectKind, digest: &Digest) -> Result<(), RemoteError> {
        let name = layout::object_name(kind, digest);
        self.stats.delete();
        match self.block_on(self.store.delete(&self.path(&name))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", &name, e)),
        }
    }

    fn stats(&self) -> RemoteStats {
        self.stats.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: &str, endpoint: Option<&str>) -> S3Config {
        S3Config {
            bucket: "b".into(),
            prefix: prefix.into(),
            endpoint: endpoint.map(str::to_string),
            region: None,
        }
    }

    #[test]
    fn describes_bucket_prefix_endpoint() {
        assert_eq!(describe(&config("", None)), "s3://b");
        assert_eq!(
            describe(&config("/team/x/", Some("http://127.0.0.1:9000"))),
            "s3://b/team/x (http://127.0.0.1:9000)"
        );
    }

    #[test]
    fn config_from_toml_refuses_credentials() {
        let json = r#"{"bucket": "b", "prefix": "p", "endpoint": "http://h:1"}"#;
        let c: S3Config = serde_json::from_str(json).unwrap();
        assert_eq!(c, config("p", Some("http://h:1")));
        let bad = r#"{"bucket": "b", "secret_access_key": "x"}"#;
        assert!(serde_json::from_str::<S3Config>(bad).is_err());
    }

    #[test]
    fn bad_prefix_is_a_config_error() {
        let err = S3Remote::with_static_credentials(&config("a/../b", None), "k", "s").unwrap_err();
        assert!(matches!(err, RemoteError::Config { .. }), "{err:?}");
    }
}
