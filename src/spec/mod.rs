//! The pipeline file: YAML → typed, validated, matrix-expanded spec. The only YAML user.

mod diagnostic;
mod include;
mod interpolate;
mod lower;
mod matrix;
mod model;
mod paths;
mod raw;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Diagnostics, Loc, SpecDiagnostic, SpecErrors};
pub use interpolate::render_scalar;
pub use model::Resources;
pub use model::{Action, InputRef, Located, NodeSpec, Pipeline, ShellAction, TypedAction, Value};
pub use paths::{RelPath, RelPathError, reserved_output};

/// Pipeline files above this size are refused before parsing.
pub const MAX_PIPELINE_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    #[error("read pipeline {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read pipeline {path}: it is {size} bytes, above the {MAX_PIPELINE_BYTES}-byte limit")]
    TooLarge { path: PathBuf, size: u64 },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] SpecErrors),
}

/// The result of parsing: the expanded nodes plus what failed to lower, with the
/// diagnostics still open so graph validation can add its own before reporting.
pub struct Parsed {
    pub pipeline: Pipeline,
    pub broken: Vec<String>,
    pub diagnostics: Diagnostics,
}

/// Reads and lowers a pipeline file. Syntax errors end parsing at once; everything else is
/// collected in `Parsed::diagnostics`.
pub fn parse_file(path: &Path) -> Result<Parsed, LoadError> {
    let file = std::path::absolute(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let read_err = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(&file).map_err(read_err)?.len();
    if size > MAX_PIPELINE_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    let text = std::fs::read_to_string(&file).map_err(read_err)?;
    parse_str(path, &file, Arc::new(text))
}

/// Parses pipeline text; `display` is the name used in messages (as the user typed it).
pub fn parse_str(display: &Path, file: &Path, text: Arc<String>) -> Result<Parsed, LoadError> {
    let mut diagnostics = Diagnostics::new(display, Arc::clone(&text));
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 200_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_total_scalar_bytes: 8 * 1024 * 1024,
        },
    };
    let raw: raw::RawPipeline = match serde_saphyr::from_str_with_options(&text, options) {
        Ok(raw) => raw,
        Err(err) => {
            let loc = err
                .location()
                .map(|loc| Loc::from_saphyr(&loc, &text))
                .unwrap_or(Loc {
                    line: 1,
                    column: 1,
                    offset: 0,
                    len: 0,
                });
            diagnostics.push(loc, yaml_message(&err), "here");
            return Err(diagnostics
                .finish()
                .err()
                .map_or_else(|| unreachable_empty(display), LoadError::Invalid));
        }
    };
    let (nodes, broken) = lower::lower(&raw, &mut diagnostics);
    let root = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok(Parsed {
        pipeline: Pipeline {
            file: file.to_path_buf(),
            root,
            source: text,
            nodes,
        },
        broken,
        diagnostics,
    })
}

/// serde-saphyr's message without its own snippet: ours comes from miette.
fn yaml_message(err: &serde_saphyr::Error) -> String {
    let text = err.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    // The location is reported separately, with a snippet.
    let first = first.split(" at line ").next().unwrap_or(first);
    format!("parse YAML: {first}")
}

fn unreachable_empty(display: &Path) -> LoadError {
    LoadError::Read {
        path: display.to_owned(),
        source: std::io::Error::other("parser reported an error without details"),
    }
}

/// JSON Schema of the pipeline format, for editors (yaml-language-server).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(raw::RawPipeline)).unwrap_or(serde_json::Value::Null)
}
