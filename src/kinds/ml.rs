//! What every ML kind shares: picking the device for `--backend`, recording it, and
//! mapping stage errors.

use std::path::Path;

use augflow_stages::StageError;
use augflow_stages::backend::{BackendChoice, SelectedDevice, select_device};
use serde::Serialize;

use super::{BackendRequest, KindError, KindOutcome};
use crate::spec::Value;

pub(super) fn device_for(request: BackendRequest) -> Result<SelectedDevice, KindError> {
    let choice = match request {
        BackendRequest::Auto => BackendChoice::Auto,
        BackendRequest::Wgpu => BackendChoice::Wgpu,
        BackendRequest::Cpu => BackendChoice::Cpu,
    };
    let device = select_device(choice)?;
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
