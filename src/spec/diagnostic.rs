//! Pipeline errors with a location: every one names file:line:column and carries a
//! source snippet, and validation collects all of them before reporting.

use std::path::Path;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};

/// A place in the pipeline file: 1-based line and column plus a byte span for snippets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Loc {
    pub line: u32,
    pub column: u32,
    pub offset: usize,
    pub len: usize,
}

impl Loc {
    /// Converts a serde-saphyr location, falling back to line/column arithmetic when the
    /// parser has no byte offset for it.
    pub fn from_saphyr(loc: &serde_saphyr::Location, source: &str) -> Loc {
        let line = u32::try_from(loc.line()).unwrap_or(u32::MAX);
        let column = u32::try_from(loc.column()).unwrap_or(u32::MAX);
        let span = loc.span();
        let offset = span
            .byte_offset()
            .and_then(|o| usize::try_from(o).ok())
            .filter(|o| *o <= source.len())
            .unwrap_or_else(|| offset_of(source, line, column));
        let len = span
            .byte_len()
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0)
            .min(source.len().saturating_sub(offset));
        Loc {
            line,
            column,
            offset,
            len,
        }
    }
}

/// Byte offset of a 1-based line/column (columns counted in characters).
fn offset_of(source: &str, line: u32, column: u32) -> usize {
    let mut offset = 0;
    for (index, text) in source.split_inclusive('\n').enumerate() {
        if index + 1 == line as usize {
            let chars = column.saturating_sub(1) as usize;
            return offset
                + text
                    .char_indices()
                    .nth(chars)
                    .map_or(text.len(), |(i, _)| i);
        }
        offset += text.len();
    }
    source.len()
}

/// One problem in a pipeline file.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{file}:{line}:{column}: {message}")]
pub struct SpecDiagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    #[source_code]
    source_code: NamedSource<Arc<String>>,
    #[label("{label}")]
    span: SourceSpan,
    label: String,
    #[help]
    pub help: Option<String>,
}

/// Everything wrong with a pipeline, sorted by position.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("load pipeline {file}: {} error(s)", errors.len())]
pub struct SpecErrors {
    pub file: String,
    #[related]
    pub errors: Vec<SpecDiagnostic>,
}

/// Collects diagnostics for one source file.
pub struct Diagnostics {
    file: String,
    source: Arc<String>,
    errors: Vec<SpecDiagnostic>,
}

impl Diagnostics {
    pub fn new(path: &Path, source: Arc<String>) -> Diagnostics {
        Diagnostics {
            file: path.display().to_string(),
            source,
            errors: Vec::new(),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn push(&mut self, loc: Loc, message: impl Into<String>, label: impl Into<String>) {
        self.push_with_help(loc, message, label, None::<String>);
    }

    pub fn push_with_help(
        &mut self,
        loc: Loc,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<impl Into<String>>,
    ) {
        self.errors.push(SpecDiagnostic {
            file: self.file.clone(),
            line: loc.line,
            column: loc.column,
            message: message.into(),
            source_code: NamedSource::new(self.file.clone(), Arc::clone(&self.source)),
            span: SourceSpan::new(loc.offset.into(), loc.len),
            label: label.into(),
            help: help.map(Into::into),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Ok if nothing was reported, else all errors sorted by position.
    pub fn finish(mut self) -> Result<(), SpecErrors> {
        if self.errors.is_empty() {
            return Ok(());
        }
        self.errors
            .sort_by(|a, b| (a.line, a.column, &a.message).cmp(&(b.line, b.column, &b.message)));
        self.errors
            .dedup_by(|a, b| (a.line, a.column, &a.message) == (b.line, b.column, &b.message));
        Err(SpecErrors {
            file: self.file,
            errors: self.errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_lines_and_columns() {
        let src = "a: 1\nbb: 2\n";
        assert_eq!(offset_of(src, 1, 1), 0);
        assert_eq!(offset_of(src, 2, 1), 5);
        assert_eq!(offset_of(src, 2, 5), 9);
        assert_eq!(offset_of(src, 9, 1), src.len());
    }
}
