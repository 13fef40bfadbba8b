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
    fn containment_is_by_component() {
        let out = RelPath::parse("data/out").unwrap();
        assert!(RelPath::parse("data/out/x.png").unwrap().is_within(&out));
        assert!(RelPath::parse("data/out").unwrap().is_within(&out));
        assert!(!RelPath::parse("data/outside").unwrap().is_within(&out));
    }
}
