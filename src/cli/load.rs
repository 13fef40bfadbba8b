//! Shared start of every subcommand: pipeline file → validated graph → project → store.

use std::path::{Path, PathBuf};

use augflow_cache::Store;

use super::{DEFAULT_PIPELINE, exit, report_error};
use crate::graph::{PipelineGraph, build};
use crate::kinds::Registry;
use crate::project::Project;
use crate::spec::{LoadError, parse_file};

pub struct Loaded {
    pub graph: PipelineGraph,
    pub project: Project,
    pub registry: Registry,
}

pub fn pipeline_path(arg: Option<&Path>) -> PathBuf {
    arg.map_or_else(|| PathBuf::from(DEFAULT_PIPELINE), Path::to_path_buf)
}

/// Loads and validates; on failure prints the diagnostics and returns the exit code.
pub fn load(pipeline: Option<&Path>, store: Option<&Path>) -> Result<Loaded, u8> {
    let path = pipeline_path(pipeline);
    let registry = Registry::builtin();
    let parsed = parse_file(&path).map_err(report_load_error)?;
    let graph =
        build(parsed, &registry).map_err(|errors| report_load_error(LoadError::Invalid(errors)))?;
    let project = Project::open(&graph.pipeline.root, store).map_err(|err| {
        report_error(&err);
        exit::INVALID
    })?;
    Ok(Loaded {
        graph,
        project,
        registry,
    })
}

pub fn open_store(project: &Project) -> Result<Store, u8> {
    project.open_store().map_err(|err| {
        report_error(&err);
        exit::ENVIRONMENT
    })
}

fn report_load_error(err: LoadError) -> u8 {
    match err {
        LoadError::Invalid(errors) => {
            let count = errors.errors.len();
            for diagnostic in errors.errors {
                eprintln!("{:?}", miette::Report::new(diagnostic));
            }
            eprintln!(
                "error: failed to load pipeline {}: {count} error(s)",
                errors.file
            );
            exit::INVALID
        }
        other => {
            report_error(&other);
            exit::INVALID
        }
    }
}
