//! The crate's JSON files (`model.json`, `generator.json`, `autoencoder.json`, `images.json`,
//! histories): read and written one way, with errors naming the file.

use std::fs;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StageError;

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, StageError> {
    let text = fs::read_to_string(path).map_err(|source| StageError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| StageError::ParseJson {
        path: path.to_owned(),
        source,
    })
}

/// Reads `path`, a JSON file carrying the version of its layout (`format_of`), refusing
/// any other version than `expected`.
pub(crate) fn read_versioned<T: DeserializeOwned>(
    path: &Path,
    expected: u32,
    format_of: impl Fn(&T) -> u32,
) -> Result<T, StageError> {
    let file: T = read_json(path)?;
    let found = format_of(&file);
    if found != expected {
        return Err(StageError::UnsupportedFormat {
            path: path.to_owned(),
            found,
            expected,
        });
    }
    Ok(file)
}

/// Writes `value` as pretty JSON with a trailing newline.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StageError> {
    let mut json =
        serde_json::to_vec_pretty(value).map_err(|source| StageError::SerializeJson {
            path: path.to_owned(),
            source,
        })?;
    json.push(b'\n');
    fs::write(path, json).map_err(|source| StageError::Write {
        path: path.to_owned(),
        source,
    })
}
