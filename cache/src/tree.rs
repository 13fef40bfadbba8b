//! Walking a directory into a [`TreeManifest`], shared by the stat cache and the store so
//! both describe a directory identically.

use std::fs::Metadata;
use std::path::Path;

use walkdir::WalkDir;

use crate::artifact::{TreeEntry, TreeManifest};
use crate::error::CacheError;

/// Walks `dir` (sorted, not following links) and calls `visit(path, metadata)` for every
/// regular file to get its entry. Symlinks and special files are errors; directories only
/// contribute through the files they contain.
pub(crate) fn walk_tree(
    dir: &Path,
    mut visit: impl FnMut(&Path, &Metadata) -> Result<TreeEntry, CacheError>,
) -> Result<TreeManifest, CacheError> {
    let mut tree = TreeManifest::default();
    for entry in WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| CacheError::walk(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() {
            return Err(CacheError::Symlink {
                path: path.to_path_buf(),
            });
        }
        if !kind.is_file() {
            return Err(CacheError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let name = relative_name(dir, path).ok_or_else(|| CacheError::NonUtf8Path {
            path: path.to_path_buf(),
        })?;
        let meta = entry.metadata().map_err(|e| CacheError::walk(path, e))?;
        let tree_entry = visit(path, &meta)?;
        tree.entries.insert(name, tree_entry);
    }
    Ok(tree)
}

/// `path` relative to `root`, '/'-separated; None if it is not under `root` or not UTF-8.
pub(crate) fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}
