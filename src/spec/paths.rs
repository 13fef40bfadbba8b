//! Project-relative paths: never absolute, never escaping the pipeline's folder.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A normalised relative path with `/` separators, e.g. `data/raw`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelPathError {
    #[error("use a path relative to the pipeline file, not the absolute path `{0}`")]
    Absolute(String),
    #[error("use a path inside the project: `{0}` escapes it with `..`")]
    Escapes(String),
    #[error("give a non-empty path")]
    Empty,
}

impl RelPath {
    pub fn parse(raw: &str) -> Result<RelPath, RelPathError> {
        let path = Path::new(raw);
        if path.is_absolute() || raw.starts_with('~') {
            return Err(RelPathError::Absolute(raw.to_owned()));
        }
        let mut parts: Vec<&str> = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => match part.to_str() {
                    Some(part) => parts.push(part),
                    None => return Err(RelPathError::Empty),
                },
                Component::CurDir => {}
                Component::ParentDir => return Err(RelPathError::Escapes(raw.to_owned())),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(RelPathError::Absolute(raw.to_owned()));
                }
            }
        }
        if parts.is_empty() {
            return Err(RelPathError::Empty);
        }
        Ok(RelPath(parts.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_path(&self, root: &Path) -> PathBuf {
        root.join(&self.0)
    }

    /// True if `self` is `other` or lies inside it.
    pub fn is_within(&self, other: &RelPath) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.starts_with(&other.0)
                && self.0.as_bytes()[other.0.len()] == b'/')
    }
}

/// Why a shell stage may not declare `path` as an output, or None if it may. `protected`
/// are files at the project root that no stage may write (the pipeline file, its config).
///
/// `.git` is refused at any depth and in any case (as git itself refuses such paths): hooks
/// and config there run code. `.augflow/` at the root is augflow's state and store; typed
/// outputs live there but are placed by augflow, never declared.
pub fn reserved_output(path: &RelPath, protected: &[&str]) -> Option<String> {
    let mut parts = path.as_str().split('/');
    if parts.clone().any(|part| part.eq_ignore_ascii_case(".git")) {
        return Some("`.git` holds git's own files (hooks and config run code)".to_owned());
    }
    if parts
        .next()
        .is_some_and(|first| first.eq_ignore_ascii_case(".augflow"))
    {
        return Some("`.augflow/` holds augflow's own state, outputs and store".to_owned());
    }
    protected
        .iter()
        .find(|file| **file == path.as_str())
        .map(|file| format!("`{file}` is the pipeline's own definition"))
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_rejects() {
        assert_eq!(RelPath::parse("./a//b/").unwrap().as_str(), "a/b");
        assert!(matches!(
            RelPath::parse("/etc/passwd"),
            Err(RelPathError::Absolute(_))
        ));
        assert!(matches!(
            RelPath::parse("a/../../b"),
            Err(RelPathError::Escapes(_))
        ));
        assert!(matches!(
            RelPath::parse("a/../b"),
            Err(RelPathError::Escapes(_))
        ));
        assert_eq!(RelPath::parse("."), Err(RelPathError::Empty));
    }

    #[test]
    fn git_state_and_pipeline_files_are_reserved() {
        let protected = ["augflow.yaml", "augflow.toml"];
        let reserved = |raw: &str| reserved_output(&RelPath::parse(raw).unwrap(), &protected);
        for path in [
            ".git/hooks/pre-commit",
            ".git",
            "sub/.GIT/config",
            ".augflow/store/objects/ab",
            ".augflow",
            "augflow.yaml",
            "augflow.toml",
        ] {
            assert!(reserved(path).is_some(), "{path} should be reserved");
        }
        for path in [
            "out/.gitignore",
            "git/hooks",
            "sub/augflow.yaml",
            "x.augflow",
        ] {
            assert_eq!(reserved(path), None, "{path} should be allowed");
        }
    }

    #[test]
    fn containment_is_by_component() {
        let out = RelPath::parse("data/out").unwrap();
        assert!(RelPath::parse("data/out/x.png").unwrap().is_within(&out));
        assert!(RelPath::parse("data/out").unwrap().is_within(&out));
        assert!(!RelPath::parse("data/outside").unwrap().is_within(&out));
    }
}
