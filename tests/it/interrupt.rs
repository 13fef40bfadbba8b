//! Ctrl-C while a transfer hangs (issue 17.5): an S3 endpoint that accepts connections and
//! never answers stands for a hung server. The first Ctrl-C stops the run (its node fails,
//! nothing is recorded as done); a second one leaves at once with exit code 130.

use std::io::Read;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use crate::common::output_within;
use crate::remote::teammate_with_env;

/// Accepts every connection and reads forever without answering.
fn black_hole() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut sink = [0u8; 4096];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

fn sigint(pid: u32) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
}

#[test]
fn ctrl_c_twice_leaves_a_hung_transfer_with_130() {
    let addr = black_hole();
    let toml = format!(
        "[remote]\ndefault = \"team\"\n\n[remotes.team]\ntype = \"s3\"\nbucket = \"b\"\nendpoint = \"http://{addr}\"\nregion = \"us-east-1\"\n"
    );
    let project = teammate_with_env(
        &toml,
        &[("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")],
    );
    let mut child = project
        .command(&["run", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn augflow");
    // Long enough to be blocked on the black hole, well before any client timeout.
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.try_wait().expect("wait").is_none(), "run ended early");
    sigint(child.id());
    std::thread::sleep(Duration::from_millis(300));
    sigint(child.id());
    let output = output_within(
        child,
        Duration::from_secs(10),
        "augflow after the second Ctrl-C",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
}
