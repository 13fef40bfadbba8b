//! Checks on what a remote says before any of it is accepted into the local store: an entry
//! must name outputs (the ones the node declares, when the caller knows them), and a tree
//! manifest must be restorable (no file that is also a folder, names within filesystem
//! limits, totals that match the entry).

use std::collections::BTreeSet;

use crate::action::ActionEntry;
use crate::artifact::{Artifact, TreeManifest};

/// Longest name of one path component on common filesystems (ext4, xfs, btrfs, APFS).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest relative path restored from a remote (Linux PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;
/// Most files one directory output may have.
pub const MAX_TREE_FILES: usize = 1_000_000;

/// Why an entry from a remote cannot be used; the message reads after "the entry …".
pub(crate) type Rejection = String;

/// Checks the entry itself. `expected`: the output names the node declares.
pub(crate) fn check_entry(
    entry: &ActionEntry,
    expected: Option<&BTreeSet<String>>,
) -> Result<(), Rejection> {
    if entry.outputs.is_empty() {
        return Err("names no outputs".into());
    }
    if let Some(expected) = expected {
        let found: BTreeSet<&String> = entry.outputs.keys().collect();
        let wanted: BTreeSet<&String> = expected.iter().collect();
        if found != wanted {
            return Err(format!(
                "names outputs {found:?}, but the node declares {wanted:?}"
            ));
        }
    }
    for name in entry.outputs.keys() {
        check_path(name)?;
    }
    Ok(())
}

/// Checks a manifest against the directory artifact that named it.
pub(crate) fn check_tree(tree: &TreeManifest, artifact: &Artifact) -> Result<(), Rejection> {
    if tree.entries.len() > MAX_TREE_FILES {
        return Err(format!(
            "has a folder of {} files (at most {MAX_TREE_FILES})",
            tree.entries.len()
        ));
    }
    if let Artifact::Dir { size, files, .. } = artifact {
        let sum = tree
            .entries
            .values()
            .try_fold(0u64, |total, e| total.checked_add(e.size));
        if *files != tree.entries.len() as u64 || sum != Some(*size) {
            return Err("declares folder totals that do not match its manifest".into());
        }
    }
    for name in tree.entries.keys() {
        check_path(name)?;
    }
    if let Some(name) = first_clash(tree.entries.keys().map(String::as_str)) {
        return Err(format!(
            "lists `{name}` both as a file and as a folder of other files"
        ));
    }
    Ok(())
}

/// Control characters and over-long names or paths are refused.
fn check_path(name: &str) -> Result<(), Rejection> {
    let shown = name.escape_default();
    if name.is_empty() || name.len() > MAX_PATH_BYTES {
        return Err(format!(
            "has a path of {} bytes (1 to {MAX_PATH_BYTES})",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("has a path with control characters: `{shown}`"));
    }
    if name.split('/').any(|c| c.len() > MAX_NAME_BYTES) {
        return Err(format!(
            "has a name longer than {MAX_NAME_BYTES} bytes in `{shown}`"
        ));
    }
    Ok(())
}

/// A name that is also a folder of another name ("a" and "a/b"), given sorted names.
fn first_clash<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    // Sorted, "a/b" comes after "a" but maybe after "a.txt" or "a-1" too ('-' and '.' sort
    // before '/'): keep every name that could still be a prefix.
    let mut open: Vec<&str> = Vec::new();
    for name in names {
        while let Some(last) = open.last() {
            if name.starts_with(last) {
                if name.as_bytes().get(last.len()) == Some(&b'/') {
                    return Some(last);
                }
                break;
            }
            open.pop();
        }
        open.push(name);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::TreeEntry;
    use crate::digest::Digest;

    fn tree(names: &[&str]) -> TreeManifest {
        let mut tree = TreeManifest::default();
        for name in names {
            tree.entries.insert(
                name.to_string(),
                TreeEntry {
                    digest: Digest::of_bytes(name.as_bytes()),
                    size: 1,
                    executable: false,
                },
            );
        }
        tree
    }

    #[test]
    fn finds_file_folder_clashes() {
        let clash = |names: &[&str]| {
            let tree = tree(names);
            first_clash(tree.entries.keys().map(String::as_str)).map(str::to_owned)
        };
        assert_eq!(clash(&["a", "a/b"]).as_deref(), Some("a"));
        assert_eq!(clash(&["a", "a-1", "a.txt", "a/b"]).as_deref(), Some("a"));
        assert_eq!(clash(&["x/a", "x/a.d/c", "x/a/b"]).as_deref(), Some("x/a"));
        assert_eq!(clash(&["a.txt", "a/b", "ab"]), None);
        assert_eq!(clash(&["a/b", "a/c", "b"]), None);
    }

    #[test]
    fn tree_totals_names_and_clashes_are_checked() {
        let good = tree(&["a/b", "c"]);
        let art = Artifact::dir(&good);
        assert_eq!(check_tree(&good, &art), Ok(()));
        let clashing = tree(&["a", "a/b"]);
        let err = check_tree(&clashing, &Artifact::dir(&clashing)).unwrap_err();
        assert!(err.contains("both as a file and as a folder"), "{err}");
        let wrong_total = Artifact::Dir {
            manifest: good.digest(),
            size: 3,
            files: 2,
        };
        assert!(check_tree(&good, &wrong_total).is_err());
        let long = tree(&[&"x".repeat(256)]);
        assert!(check_tree(&long, &Artifact::dir(&long)).is_err());
        let control = tree(&["a\u{1b}[31m"]);
        assert!(check_tree(&control, &Artifact::dir(&control)).is_err());
    }
}
