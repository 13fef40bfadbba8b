//! What every stage function takes besides its config and inputs: where it writes, the
//! device it runs on, how it reports progress and how it is told to stop.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::backend::SelectedDevice;
use crate::data::out_dir::start_stage;
use crate::{StageConfig, StageError};

/// A stage run's output folder, device, progress callback and cancel flag. `P` is the
/// stage's progress event.
pub struct StageIo<'a, P> {
    /// The empty folder the stage writes its artifact into.
    pub out_dir: &'a Path,
    pub device: &'a SelectedDevice,
    pub progress: &'a dyn Fn(P),
    /// Set by Ctrl-C or by the engine; checked between steps.
    pub cancel: &'a AtomicBool,
}

impl<'a, P> StageIo<'a, P> {
    /// For callers that do not watch progress (tests, benchmarks, scripts).
    pub fn without_progress(
        out_dir: &'a Path,
        device: &'a SelectedDevice,
        cancel: &'a AtomicBool,
    ) -> Self {
        Self {
            out_dir,
            device,
            progress: &ignore_progress::<P>,
            cancel,
        }
    }

    /// Every stage's first step: `cfg` checked and the output folder empty.
    pub(crate) fn start(&self, cfg: &impl StageConfig) -> Result<(), StageError> {
        start_stage(cfg, self.out_dir)
    }

    /// Reports one progress event.
    pub(crate) fn report(&self, event: P) {
        (self.progress)(event)
    }
}

fn ignore_progress<P>(_: P) {}
