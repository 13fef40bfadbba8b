//! Cancellation (Ctrl-C): stop scheduling, signal running commands, publish nothing
//! half-done. Children run in their own process group so the whole group is signalled.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    children: Mutex<BTreeSet<u32>>,
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    pub fn flag(&self) -> &AtomicBool {
        &self.inner.cancelled
    }

    /// Marks the run cancelled and sends SIGTERM to every running command's group.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let children = match self.inner.children.lock() {
            Ok(children) => children.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        for pid in children {
            signal_group(pid);
        }
    }

    pub(crate) fn register(&self, pid: u32) {
        if let Ok(mut children) = self.inner.children.lock() {
            children.insert(pid);
        }
        // A Ctrl-C that raced the spawn must still reach this child.
        if self.is_cancelled() {
            signal_group(pid);
        }
    }

    pub(crate) fn unregister(&self, pid: u32) {
        if let Ok(mut children) = self.inner.children.lock() {
            children.remove(&pid);
        }
    }
}

fn signal_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
    unsafe {
        libc::kill(-pid, libc::SIGTERM);
    }
}
