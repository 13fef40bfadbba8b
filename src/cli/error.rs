//! What a subcommand returns when it does not succeed: one enum whose variant knows its
//! documented exit code (README.md, "Exit codes"). `cli::main` prints it and exits; no
//! subcommand prints its own error or picks a code.

use std::error::Error;
use std::fmt::Write as _;

use super::exit;
use crate::spec::SpecErrors;

/// The error behind a failure: a library error (its sources become `caused by:` lines) or
/// a message that reads after "failed to".
pub type Cause = Box<dyn Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The pipeline file has errors, each printed with its span (exit 2).
    #[error("{0}")]
    Pipeline(SpecErrors),
    /// The command line, the pipeline or the project asks for what cannot be; nothing ran
    /// (exit 2).
    #[error("{0}")]
    Invalid(Cause),
    /// The store, the filesystem or a remote failed outside any one node (exit 3).
    #[error("{0}")]
    Environment(Cause),
    /// A node failed, or what was asked about has no result yet (exit 1).
    #[error("{0}")]
    Failed(Cause),
    /// Nodes of a run failed or were skipped; its events said which (exit 1).
    #[error("bring every node up to date")]
    NodesFailed,
    /// `status --check` found stale nodes; the listing said which (exit 1).
    #[error("find every node up to date")]
    Stale,
    /// Ctrl-C; finished nodes are kept, running ones published nothing (exit 130).
    #[error("finish: interrupted")]
    Interrupted,
}

impl CliError {
    pub fn invalid(cause: impl Into<Cause>) -> CliError {
        CliError::Invalid(cause.into())
    }

    pub fn environment(cause: impl Into<Cause>) -> CliError {
        CliError::Environment(cause.into())
    }

    pub fn failed(cause: impl Into<Cause>) -> CliError {
        CliError::Failed(cause.into())
    }

    /// The documented exit code of this outcome.
    pub fn process_exit_code(&self) -> u8 {
        match self {
            CliError::Pipeline(_) | CliError::Invalid(_) => exit::INVALID,
            CliError::Environment(_) => exit::ENVIRONMENT,
            CliError::Failed(_) | CliError::NodesFailed | CliError::Stale => exit::NODE_FAILED,
            CliError::Interrupted => exit::INTERRUPTED,
        }
    }

    /// Writes the error to stderr: pipeline diagnostics through miette (spans, labels,
    /// help), anything else as one `error: failed to …` line and its causes. Outcomes the
    /// run's own output already told print nothing.
    pub fn print(self) {
        match self {
            CliError::Pipeline(errors) => {
                let file = errors.file.clone();
                let count = errors.errors.len();
                for diagnostic in errors.errors {
                    eprintln!("{:?}", miette::Report::new(diagnostic));
                }
                eprintln!("error: failed to load pipeline {file}: {count} error(s)");
            }
            CliError::Invalid(cause) | CliError::Environment(cause) | CliError::Failed(cause) => {
                eprintln!("{}", error_text(cause.as_ref()));
            }
            CliError::NodesFailed | CliError::Stale | CliError::Interrupted => {}
        }
    }
}

/// `error: failed to {err}`, then one `  caused by: …` line per source.
pub fn error_text(err: &(dyn Error + 'static)) -> String {
    let mut text = format!("error: failed to {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(text, "\n  caused by: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("open store /s")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_error_prints_as_failed_to_then_its_causes() {
        let err = Outer(std::io::Error::other("disk full"));
        assert_eq!(
            error_text(&err),
            "error: failed to open store /s\n  caused by: disk full"
        );
        let message = CliError::invalid("select target `x`: no node or stage has that name");
        let CliError::Invalid(cause) = &message else {
            unreachable!("built as Invalid")
        };
        assert_eq!(
            error_text(cause.as_ref()),
            "error: failed to select target `x`: no node or stage has that name"
        );
    }

    #[test]
    fn each_outcome_exits_with_its_documented_code() {
        let codes = [
            (CliError::invalid("x"), 2),
            (CliError::environment("x"), 3),
            (CliError::failed("x"), 1),
            (CliError::NodesFailed, 1),
            (CliError::Stale, 1),
            (CliError::Interrupted, 130),
        ];
        for (err, code) in codes {
            assert_eq!(err.process_exit_code(), code, "{err:?}");
        }
    }
}
