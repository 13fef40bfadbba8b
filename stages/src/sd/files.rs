//! Reading a model folder's small files: bounded (a folder may come from anyone), with
//! errors that name the file.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::StageError;

/// Largest tokenizer or config file we read: CLIP's vocab.json is 1.6 MB, merges.txt
/// 0.5 MB, configs a few KB.
pub(crate) const MAX_TEXT_FILE: u64 = 16 << 20;

/// Reads the UTF-8 file at `path`, refusing one over [`MAX_TEXT_FILE`] bytes.
pub(crate) fn read_text(path: &Path) -> Result<String, StageError> {
    let read_err = |source| StageError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_TEXT_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_TEXT_FILE {
        return Err(invalid(
            path,
            format!("it is larger than {MAX_TEXT_FILE} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|err| invalid(path, format!("it is not UTF-8 ({err})")))
}

/// Reads and parses the JSON file at `path`.
pub(crate) fn read_json_value(path: &Path) -> Result<Value, StageError> {
    serde_json::from_str(&read_text(path)?).map_err(|source| StageError::ParseJson {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> StageError {
    StageError::InvalidModelFile {
        path: path.to_owned(),
        reason: reason.into(),
    }
}
