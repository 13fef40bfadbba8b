//! An S3-compatible server for benchmarks: s3s-fs over a folder, on 127.0.0.1, counting the
//! requests it serves by S3 operation, so that every client (augflow, DVC, …) is measured by
//! the same server-side counter.
//!
//! ```text
//! cargo run -p augflow-cache --example s3_bench_server -- --root DIR [--port-file FILE]
//!     [--addr 127.0.0.1:0] [--access-key KEY] [--secret-key SECRET]
//! ```
//!
//! Every top-level folder of `DIR` is a bucket. Credentials default to
//! `augflow-bench` / `augflow-bench-secret`; requests must be signed with them.
//!
//! Admin requests (unsigned, on the same port, not counted):
//! - `GET /?augflow-bench=counts`: `{"requests": N, "ops": {"GetObject": n, …}}` as JSON;
//! - `POST /?augflow-bench=reset`: zeroes the counters (and returns them as they were).
//!
//! `requests` counts every request that passed signature checking, `ops` only those s3s
//! resolved to an operation; the two differ only for requests s3s could not route.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::dto::{ListObjectsInput, ListObjectsV2Input};
use s3s::path::S3Path;
use s3s::route::S3Route;
use s3s::service::S3ServiceBuilder;
use s3s::{Body, S3Request, S3Response, S3Result};

const ADMIN_PARAM: &str = "augflow-bench";

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    ops: Mutex<BTreeMap<String, u64>>,
}

impl Counts {
    fn ops(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        // A poisoned map is still a valid map of counts.
        self.ops.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn to_json(&self) -> String {
        let ops = self.ops().clone();
        serde_json::json!({
            "requests": self.requests.load(Ordering::SeqCst),
            "ops": ops,
        })
        .to_string()
    }

    fn reset(&self) -> String {
        let mut ops = self.ops();
        let before = serde_json::json!({
            "requests": self.requests.swap(0, Ordering::SeqCst),
            "ops": std::mem::take(&mut *ops),
        });
        before.to_string()
    }
}

/// Counts each request by the operation s3s resolved it to, then applies the default rule
/// (signed requests only).
struct CountOps {
    counts: Arc<Counts>,
    root: PathBuf,
}

impl CountOps {
    /// s3s-fs stores `a/b` as a file under the folder `a`; asked for the object `a` it fails
    /// to read a folder and answers 500, where S3 answers 404 (no such key). s3fs (DVC)
    /// asks HEAD of prefixes, then retries the 500s, so without this DVC fails and counts
    /// retries no real server would cause.
    fn is_prefix_only(&self, path: &S3Path) -> bool {
        let S3Path::Object { bucket, key } = path else {
            return false;
        };
        let key = Path::new(key.as_ref());
        let plain = key
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        plain && self.root.join(bucket.as_ref()).join(key).is_dir()
    }
}

#[async_trait::async_trait]
impl S3Access for CountOps {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name();
        *self.counts.ops().entry(op.to_owned()).or_default() += 1;
        if cx.credentials().is_none() {
            return Err(s3s::s3_error!(AccessDenied, "signature is required"));
        }
        if matches!(op, "GetObject" | "HeadObject") && self.is_prefix_only(cx.s3_path()) {
            return Err(s3s::s3_error!(NoSuchKey));
        }
        Ok(())
    }

    /// S3 reads `delimiter=` (empty, as s3fs sends it) as no delimiter; s3s-fs would group
    /// every key under one bogus common prefix, and DVC would find no object.
    async fn list_objects_v2(&self, req: &mut S3Request<ListObjectsV2Input>) -> S3Result<()> {
        if req.input.delimiter.as_deref() == Some("") {
            req.input.delimiter = None;
        }
        Ok(())
    }

    async fn list_objects(&self, req: &mut S3Request<ListObjectsInput>) -> S3Result<()> {
        if req.input.delimiter.as_deref() == Some("") {
            req.input.delimiter = None;
        }
        Ok(())
    }
}

/// Sees every request that passed signature checking (counts it) and takes the admin ones.
struct Admin(Arc<Counts>);

fn admin_action(uri: &hyper::Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(ADMIN_PARAM)?.strip_prefix('='))
}

#[async_trait::async_trait]
impl S3Route for Admin {
    fn is_match(
        &self,
        _method: &hyper::Method,
        uri: &hyper::Uri,
        _headers: &hyper::HeaderMap,
        _extensions: &mut hyper::http::Extensions,
    ) -> bool {
        let admin = uri.path() == "/" && admin_action(uri).is_some();
        if !admin {
            self.0.requests.fetch_add(1, Ordering::SeqCst);
        }
        admin
    }

    async fn check_access(&self, _req: &mut S3Request<Body>) -> S3Result<()> {
        Ok(())
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let json = match (admin_action(&req.uri), &req.method) {
            (Some("counts"), &hyper::Method::GET) => self.0.to_json(),
            (Some("reset"), &hyper::Method::POST) => self.0.reset(),
            _ => return Err(s3s::s3_error!(InvalidRequest, "unknown admin request")),
        };
        Ok(S3Response::new(Body::from(json + "\n")))
    }
}

struct Args {
    root: PathBuf,
    addr: SocketAddr,
    port_file: Option<PathBuf>,
    access_key: String,
    secret_key: String,
}

fn parse_args() -> Result<Args, String> {
    let mut root = None;
    let mut addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut port_file = None;
    let mut access_key = "augflow-bench".to_owned();
    let mut secret_key = "augflow-bench-secret".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--root" => root = Some(PathBuf::from(value()?)),
            "--addr" => {
                let text = value()?;
                addr = text
                    .parse()
                    .map_err(|e| format!("bad --addr {text}: {e}"))?;
            }
            "--port-file" => port_file = Some(PathBuf::from(value()?)),
            "--access-key" => access_key = value()?,
            "--secret-key" => secret_key = value()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        root: root.ok_or("--root DIR is required")?,
        addr,
        port_file,
        access_key,
        secret_key,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args) -> Result<(), String> {
    let fs = s3s_fs::FileSystem::new(&args.root)
        .map_err(|e| format!("failed to serve {}: {e:?}", args.root.display()))?;
    let counts = Arc::new(Counts::default());
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(
        args.access_key.as_str(),
        args.secret_key.as_str(),
    ));
    builder.set_access(CountOps {
        counts: Arc::clone(&counts),
        root: args.root.clone(),
    });
    builder.set_route(Admin(Arc::clone(&counts)));
    let service = builder.build();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("failed to start the runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| format!("failed to listen on {}: {e}", args.addr))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("failed to read the listening address: {e}"))?;
        if let Some(path) = &args.port_file {
            // Written whole then renamed, so a script polling for it never reads half.
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, format!("{}\n", addr.port()))
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
        }
        println!(
            "s3 bench server on http://{addr}, root {}",
            args.root.display()
        );
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let (socket, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("warning: failed to accept a connection: {e}");
                    continue;
                }
            };
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                // A client closing its connection mid-request is its business.
                let _ = conn.await;
            });
        }
    })
}
