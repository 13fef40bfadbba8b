//! An S3-compatible server (s3s-fs over a temp dir) on 127.0.0.1:<free port>, in-process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use augflow_cache::remote::{S3Config, S3Remote};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const BUCKET: &str = "team-cache";
pub const PREFIX: &str = "studies/augflow";
pub const ACCESS_KEY: &str = "augflow-test";
pub const SECRET_KEY: &str = "augflow-test-secret";

pub struct S3Server {
    rt: Option<tokio::runtime::Runtime>,
    pub addr: SocketAddr,
    root: tempfile::TempDir,
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let conn = http.serve_connection(TokioIo::new(socket), service.clone());
                let conn = conn.into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        S3Server {
            rt: Some(rt),
            addr,
            root,
        }
    }

    pub fn config(&self) -> S3Config {
        S3Config {
            bucket: BUCKET.into(),
            prefix: PREFIX.into(),
            endpoint: Some(format!("http://{}", self.addr)),
            region: Some("us-east-1".into()),
        }
    }

    pub fn client(&self) -> S3Remote {
        S3Remote::with_static_credentials(&self.config(), ACCESS_KEY, SECRET_KEY).unwrap()
    }

    pub fn client_with_secret(
        &self,
        secret: &str,
    ) -> Result<S3Remote, augflow_cache::remote::RemoteError> {
        S3Remote::with_static_credentials(&self.config(), ACCESS_KEY, secret)
    }

    /// The server's backing folder for our prefix: `<root>/<bucket>/<prefix>`.
    pub fn backing_root(&self) -> PathBuf {
        self.root.path().join(BUCKET).join(PREFIX)
    }

    pub fn data_root(&self) -> &Path {
        self.root.path()
    }

    /// Kills the server: listener and open connections close.
    pub fn stop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
