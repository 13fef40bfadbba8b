//! Output directories: stages write into fresh, empty directories only.

use std::fs;
use std::path::Path;

use crate::{StageConfig, StageError};

/// Fails unless `dir` exists and is empty, so leftovers never end up in an artifact.
pub(crate) fn ensure_empty(dir: &Path) -> Result<(), StageError> {
    let mut entries = fs::read_dir(dir).map_err(|source| StageError::ListDir {
        path: dir.to_owned(),
        source,
    })?;
    match entries.next() {
        None => Ok(()),
        Some(_) => Err(StageError::OutputNotEmpty {
            path: dir.to_owned(),
        }),
    }
}

/// A stage's first step: its config checked and its output folder empty.
pub(crate) fn start_stage(cfg: &impl StageConfig, out_dir: &Path) -> Result<(), StageError> {
    cfg.validate()?;
    ensure_empty(out_dir)
}

pub(crate) fn create_dir_all(dir: &Path) -> Result<(), StageError> {
    fs::create_dir_all(dir).map_err(|source| StageError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}
