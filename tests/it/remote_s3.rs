//! The teammates scenario against a real S3-compatible server on 127.0.0.1 (s3s-fs,
//! in-process), with credentials passed the way users pass them: in the environment.

#[path = "../../cache/tests/remote_common/s3_server.rs"]
#[allow(dead_code)]
mod s3_server;

use s3_server::{ACCESS_KEY, BUCKET, PREFIX, S3Server, SECRET_KEY};

use crate::common::names;
use crate::remote::{teammate_with_env, teammates_share_results};

const CREDENTIALS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
    ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
];

fn s3_toml(server: &S3Server) -> String {
    format!(
        "[remote]\ndefault = \"team\"\n\n[remotes.team]\ntype = \"s3\"\nbucket = \"{BUCKET}\"\nprefix = \"{PREFIX}\"\nendpoint = \"http://{}\"\nregion = \"us-east-1\"\n",
        server.addr
    )
}

#[test]
fn teammates_share_results_through_s3() {
    let server = S3Server::start();
    teammates_share_results(&s3_toml(&server), CREDENTIALS);
}

#[test]
fn a_stopped_s3_server_gives_warnings_and_a_completed_run() {
    let mut server = S3Server::start();
    let toml = s3_toml(&server);
    let a = teammate_with_env(&toml, CREDENTIALS);
    a.run(&[]).assert_ok();
    server.stop();

    let b = teammate_with_env(&toml, CREDENTIALS);
    let result = b.run(&[]);
    result.assert_ok();
    assert_eq!(
        result.executed(),
        names(&["data", "summary", "prep", "train"])
    );
    assert!(
        result.warnings.iter().any(|w| w.contains("unavailable")),
        "{:?}",
        result.warnings
    );
    assert_eq!(a.read("train.txt"), b.read("train.txt"));
}
