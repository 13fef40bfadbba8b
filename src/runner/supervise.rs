//! A per-node supervisor, so that no process a shell stage starts outlives its node.
//!
//! `sh` is not the runner's child: between them sits a forked copy of the runner (the
//! supervisor) that does nothing but wait. It is a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`): whatever the command leaves behind, even after `setsid` or a
//! double fork, is re-parented to it when its parent dies. When `sh` exits, the supervisor
//! kills `sh`'s process group and then every process re-parented to it, and exits with
//! `sh`'s status. When the runner dies, even by SIGKILL, the kernel sends the supervisor
//! SIGTERM (`PR_SET_PDEATHSIG`) and it does the same at once. On cancellation (the runner
//! signals the supervisor's own group) it forwards SIGTERM to the command's group and
//! cleans up once `sh` is gone.
//!
//! Not covered (Linux offers nothing short of cgroups): a descendant that makes itself a
//! subreaper, and a supervisor killed directly by SIGKILL (then `sh` dies with it through
//! its own parent-death signal, but its children are re-parented to init).
//!
//! Everything below runs in a child forked from a multi-threaded process, so it makes raw
//! system calls only: no allocation, no locks, no Rust I/O.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Signals the supervisor waits for (blocked, then taken with `sigwaitinfo`).
const WAITED: [libc::c_int; 4] = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// Runs `command` under a supervisor; `Command::spawn` then returns the supervisor, whose
/// exit status is the command's. The supervisor is the leader of its own process group,
/// which is what cancellation signals.
pub fn supervise(command: &mut Command) {
    let runner = std::process::id();
    // Built before fork: the child may not allocate.
    let children_file = c"/proc/thread-self/children";
    let hook = move || {
        // SAFETY: runs in the forked child before exec (std's `pre_exec`).
        unsafe { become_supervisor(runner, children_file.as_ptr()) };
        Ok(())
    };
    // SAFETY: the hook makes async-signal-safe system calls only.
    unsafe { command.pre_exec(hook) };
}

/// In the forked child: forks `sh`'s process (which returns to exec) and supervises it
/// (which never returns).
///
/// # Safety
/// Call only between fork and exec.
unsafe fn become_supervisor(runner: u32, children_file: *const libc::c_char) {
    // SAFETY: plain system calls on this process's own state.
    unsafe {
        libc::setpgid(0, 0);
        let mut waited: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut waited);
        for signal in WAITED {
            libc::sigaddset(&mut waited, signal);
        }
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &waited, &mut previous);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        let worker = libc::fork();
        if worker == 0 {
            // The command: its own group, so one kill reaches it and what it starts; and
            // it dies if the supervisor does.
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            libc::sigprocmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
            return;
        }
        if worker < 0 {
            libc::_exit(127);
        }
        // Also here (as shells do), so the group exists before any signal is sent to it.
        libc::setpgid(worker, worker);
        // The supervisor keeps no file open: std's exec-status pipe among them, which
        // would otherwise keep `spawn` waiting until the command ends.
        close_from(3);
        // The runner may have died before PR_SET_PDEATHSIG took effect.
        let runner_alive = libc::getppid() == runner as libc::pid_t;
        supervisor(worker, runner_alive, runner, &waited, children_file)
    }
}

/// Waits for the command, relays cancellation, cleans up, and exits like the command did.
unsafe fn supervisor(
    worker: libc::pid_t,
    runner_alive: bool,
    runner: u32,
    waited: &libc::sigset_t,
    children_file: *const libc::c_char,
) -> ! {
    // SAFETY: system calls only; `waited` and `children_file` outlive the loop.
    unsafe {
        if !runner_alive {
            kill_all(worker, children_file);
            libc::_exit(128 + libc::SIGKILL);
        }
        let mut status: libc::c_int = 0;
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let signal = libc::sigwaitinfo(waited, &mut info);
            if signal == libc::SIGCHLD {
                if reap_worker(worker, &mut status) {
                    break;
                }
            } else if signal > 0 {
                if libc::getppid() != runner as libc::pid_t {
                    // The runner is gone: nothing may outlive it.
                    kill_all(worker, children_file);
                    libc::_exit(128 + libc::SIGKILL);
                }
                // Cancellation: the command decides how to stop; leftovers die below.
                libc::kill(-worker, libc::SIGTERM);
            }
        }
        kill_all(worker, children_file);
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        let signal = libc::WTERMSIG(status);
        // Die the same way, so the runner sees "killed by a signal".
        libc::signal(signal, libc::SIG_DFL);
        let mut only: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut only);
        libc::sigaddset(&mut only, signal);
        libc::sigprocmask(libc::SIG_UNBLOCK, &only, std::ptr::null_mut());
        libc::kill(libc::getpid(), signal);
        libc::_exit(128 + signal);
    }
}

/// Reaps finished children; true once the command itself has finished.
unsafe fn reap_worker(worker: libc::pid_t, status: &mut libc::c_int) -> bool {
    let mut finished = false;
    loop {
        let mut child_status: libc::c_int = 0;
        // SAFETY: waitpid writes only to `child_status`.
        let pid = unsafe { libc::waitpid(-1, &mut child_status, libc::WNOHANG) };
        if pid <= 0 {
            return finished;
        }
        if pid == worker {
            *status = child_status;
            finished = true;
        }
    }
}

/// Kills the command's group, then every process re-parented to the supervisor, until it
/// has no child left.
unsafe fn kill_all(worker: libc::pid_t, children_file: *const libc::c_char) {
    // SAFETY: system calls only.
    unsafe {
        libc::kill(-worker, libc::SIGKILL);
        loop {
            let listed = kill_listed_children(children_file);
            let pid = libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG);
            if pid > 0 {
                continue;
            }
            if pid < 0 {
                // ECHILD: no child is left.
                return;
            }
            if !listed {
                // Children exist but cannot be listed (no /proc): the group kill is all
                // that can be done; do not wait for processes that may never end.
                return;
            }
            // Killed children not yet reapable: wait for one.
            libc::waitpid(-1, std::ptr::null_mut(), 0);
        }
    }
}

/// SIGKILLs each pid listed in `/proc/thread-self/children`; false if it cannot be read.
unsafe fn kill_listed_children(children_file: *const libc::c_char) -> bool {
    // SAFETY: open/read/close on a stack buffer.
    unsafe {
        let fd = libc::open(children_file, libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let mut buffer = [0u8; 4096];
        let mut pid: libc::pid_t = 0;
        loop {
            let read = libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len());
            if read <= 0 {
                break;
            }
            for &byte in &buffer[..read as usize] {
                if byte.is_ascii_digit() {
                    pid = pid
                        .saturating_mul(10)
                        .saturating_add(libc::pid_t::from(byte - b'0'));
                } else {
                    if pid > 0 {
                        libc::kill(pid, libc::SIGKILL);
                    }
                    pid = 0;
                }
            }
        }
        if pid > 0 {
            libc::kill(pid, libc::SIGKILL);
        }
        libc::close(fd);
        true
    }
}

/// Closes every file descriptor from `first` on.
unsafe fn close_from(first: libc::c_int) {
    // SAFETY: closing descriptors this process owns.
    unsafe {
        let done = libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0,
        );
        if done != 0 {
            for fd in first..4096 {
                libc::close(fd);
            }
        }
    }
}
