//! The teammates scenario against a real S3-compatible server on 127.0.0.1 (s3s-fs,
//! in-process), with credentials passed the way users pass them: in the environment.

#[path = "../../cache/tests/remote_common/s3_server.rs"]
#[allow(dead_code)]
mod s3_server;

use s3_server::{ACCESS_KEY, BUCKET, PREFIX, S3Server, SECRET_KEY};

use crate::common::names;
use crate::remote::{TEAM_NODES, teammate_with_env, teammates_share_results};

const CREDENTIALS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
    ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
];

fn s3_toml(server: &S3Server) -> String {
    format!(
        "[remote]\ndefault = \"team\"\n\n[remotes.team]\ntype = \"s3\"\nbucket = \"{BUCKET}\"\nprefix = \"{PREFIX}\"\nendpoint = \"http://{}\"\nregion = \"us-east-1\"\npush = \"auto\"\n",
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
    b.run(&[])
        .assert_ok()
        .assert_executed(TEAM_NODES)
        .assert_warned("unavailable");
    assert_eq!(a.read("train.txt"), b.read("train.txt"));
}

/// The server dies while a teammate's run is between two nodes: what was restored before
/// stays, later nodes miss with a warning and execute, their uploads fail with a warning,
/// and the run completes.
#[test]
fn an_s3_server_stopped_mid_run_gives_warnings_and_a_completed_run() {
    const PIPELINE: &str = "stages:\n  a:\n    cmd: \"echo a > a.txt\"\n    outs: [a.txt]\n  gate:\n    cmd: \"sh gate.sh > gate.txt\"\n    deps: [a.txt]\n    outs: [gate.txt]\n  b:\n    cmd: \"cat gate.txt a.txt > b.txt\"\n    deps: [gate.txt]\n    outs: [b.txt]\n";
    let mut server = S3Server::start();
    let toml = s3_toml(&server);
    let teammate = |pipeline: &str| {
        let project = teammate_with_env(&toml, CREDENTIALS);
        project.write("augflow.yaml", pipeline);
        project
    };
    // A computes and uploads only `a`.
    let a = teammate(PIPELINE);
    a.run(&["--target", "a"]).assert_ok();

    // B restores `a`; `gate` (untracked script) blocks until the server is gone.
    let b = teammate(PIPELINE);
    b.write(
        "gate.sh",
        "touch started; i=0; while [ ! -f go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo gate\n",
    );
    let child = b
        .command(&["run", "--json", "-j", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = b.path("started");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !started.exists() {
        assert!(std::time::Instant::now() < deadline, "gate never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.stop();
    b.write("go", "");
    let result = crate::common::parse_run(&child.wait_with_output().unwrap());
    result.assert_ok();
    assert_eq!(result.with_status("restored"), names(&["a"]));
    assert_eq!(result.executed(), names(&["b", "gate"]));
    assert!(
        !result.warnings.is_empty(),
        "the dead server must be reported"
    );
    assert_eq!(b.read("b.txt"), "gate\na\n");
}
