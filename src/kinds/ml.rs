//! What every ML kind shares: picking the device for `--backend`, recording it, pacing
//! progress, and mapping stage errors.

use std::path::Path;

use augflow_stages::backend::{SelectedDevice, select_device_on};
use augflow_stages::{StageError, StageIo};
use serde::Serialize;

use super::{KindContext, KindError, KindOutcome, port_dir};
use crate::spec::Value;

/// The device for `--backend`, on the GPU the scheduler pinned the node to.
pub(super) fn device_for(ctx: &KindContext<'_>) -> Result<SelectedDevice, KindError> {
    let choice = ctx.backend.choice();
    let device = select_device_on(choice, ctx.gpu)?;
    tracing::info!(device = %device.name, "backend {choice} chose {}", device.name);
    Ok(device)
}

pub(super) fn device_outcome(device: &SelectedDevice) -> KindOutcome {
    let mut outcome = KindOutcome::default();
    outcome
        .metadata
        .insert("device".to_owned(), Value::from(device.name.clone()));
    outcome
}

/// Whether training step `step` of `steps` is reported: every step would flood the
/// renderers, so about one in a hundred, and always the last.
pub(super) fn reports_step(step: usize, steps: usize) -> bool {
    step.is_multiple_of((steps / 100).max(1)) || step == steps
}

/// The stage's side of a run: output port `output`, `device`, `progress` and the run's
/// cancel flag.
pub(super) fn stage_io<'a, P>(
    ctx: &'a KindContext<'_>,
    output: &str,
    device: &'a SelectedDevice,
    progress: &'a dyn Fn(P),
) -> Result<StageIo<'a, P>, KindError> {
    Ok(StageIo {
        out_dir: port_dir(&ctx.outputs, output)?,
        device,
        progress,
        cancel: ctx.cancel,
    })
}

pub(super) fn stage_error(err: StageError) -> KindError {
    match err {
        StageError::Cancelled => KindError::Cancelled,
        other => KindError::Stage(other),
    }
}

pub(super) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), KindError> {
    crate::fsutil::write_json_atomic(path, value).map_err(|source| {
        KindError::Stage(StageError::Write {
            path: path.to_owned(),
            source,
        })
    })
}
