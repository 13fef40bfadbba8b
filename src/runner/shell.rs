//! Runs a shell stage: `sh -c <cmd>` in the pipeline's folder, output to a log file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::engine::Engine;
use super::gpus::Placement;
use super::node_error::NodeError;
use super::supervise::supervise;
use crate::fsutil::{check_beneath, remove_path};
use crate::spec::{NodeSpec, ShellAction};

pub fn run_shell(
    engine: &Engine<'_>,
    node: &NodeSpec,
    shell: &ShellAction,
    placement: &Placement,
) -> Result<(), NodeError> {
    let root = &engine.project.root;
    // Stale outputs must not survive into the new result (as DVC does).
    for out in &shell.outs {
        let path = out.value.to_path(root);
        remove_path(&path).map_err(|source| NodeError::io("remove old output", &path, source))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| NodeError::io("create output folder", parent, source))?;
        }
    }
    let log_path = log_path(engine, &node.name);
    check_beneath(root, &log_path).map_err(|source| NodeError::UnsafePath {
        stage: node.name.clone(),
        path: log_path.display().to_string(),
        source,
    })?;
    let log = open_log(&log_path)?;
    let log_err = log
        .try_clone()
        .map_err(|source| NodeError::io("open log", &log_path, source))?;

    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&shell.cmd)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .env("AUGFLOW_NODE", &node.name);
    if let Some(seed) = node.seed {
        command.env("AUGFLOW_SEED", seed.to_string());
    }
    if !placement.gpus.is_empty() {
        // The command sees only its GPUs (renumbered from 0 by CUDA); AUGFLOW_GPU keeps
        // the machine's ids for logs and tools that do not go through CUDA.
        let list = placement.gpu_list();
        command
            .env("CUDA_VISIBLE_DEVICES", &list)
            .env("AUGFLOW_GPU", &list);
    }
    command.env("AUGFLOW_ATTEMPT", placement.attempt.to_string());
    let ooms_before = oom_kills();
    // If the runner dies (even by SIGKILL) the command and everything it started die with
    // it, instead of writing outputs later that no run accounts for; nothing it started
    // outlives the node either (see `supervise`).
    supervise(&mut command);
    let mut child = command
        .spawn()
        .map_err(|source| NodeError::io("start `sh`", Path::new("sh"), source))?;
    engine.cancel.register(child.id());
    let status = child.wait();
    engine.cancel.unregister(child.id());
    let status = status.map_err(|source| NodeError::io("wait for command", &log_path, source))?;
    if engine.cancel.is_cancelled() {
        return Err(NodeError::Cancelled);
    }
    if !status.success() {
        let signal = status.signal();
        let described = match (status.code(), signal) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(libc::SIGKILL)) => match (ooms_before, oom_kills()) {
                (Some(before), Some(after)) if after > before => {
                    "killed by the kernel's out-of-memory killer (SIGKILL; cgroup oom_kill count rose)"
                        .to_owned()
                }
                _ => "killed by SIGKILL (often the out-of-memory killer)".to_owned(),
            },
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "killed by a signal".to_owned(),
        };
        return Err(NodeError::CommandFailed {
            status: described,
            signal,
            log: log_path.clone(),
            tail: log_tail(&log_path, 20),
        });
    }
    for out in &shell.outs {
        let path = out.value.to_path(root);
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(NodeError::OutputMissing {
                path,
                log: log_path.clone(),
            });
        }
    }
    Ok(())
}

/// The `oom_kill` count of this process's cgroup (v2), which the command shares: a rise
/// while it ran is the kernel's word that memory ran out. `None` where it is unreadable.
fn oom_kills() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|line| line.strip_prefix("0::"))?;
    let events =
        std::fs::read_to_string(format!("/sys/fs/cgroup{}/memory.events", path.trim())).ok()?;
    events.lines().find_map(|line| {
        line.strip_prefix("oom_kill ")
            .and_then(|n| n.trim().parse().ok())
    })
}

pub fn log_path(engine: &Engine<'_>, node: &str) -> PathBuf {
    engine.project.logs_dir().join(format!("{node}.log"))
}

fn open_log(path: &Path) -> Result<File, NodeError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| NodeError::io("create log folder", parent, source))?;
    }
    File::create(path).map_err(|source| NodeError::io("create log", path, source))
}

/// The last `lines` lines of a log, for the failure message.
fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(8 * 1024);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
