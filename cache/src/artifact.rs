//! What an output is, by content: a single file, or a directory described by a manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::CacheError;

/// Version of [`TreeManifest`]'s serialized form. Part of every manifest's bytes, hence of
/// its digest: changing the format changes every directory digest.
pub const TREE_FORMAT: u32 = 1;

/// A stage output (or a source dependency), by content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Artifact {
    File {
        digest: Digest,
        size: u64,
        executable: bool,
    },
    /// `manifest` is the digest of the canonical bytes of a [`TreeManifest`], which is stored
    /// as a blob too. `size` is the sum of the file sizes; `files` their count.
    Dir {
        manifest: Digest,
        size: u64,
        files: u64,
    },
}

impl Artifact {
    /// The file's digest, or the manifest's for a directory.
    pub fn digest(&self) -> Digest {
        match self {
            Artifact::File { digest, .. } => *digest,
            Artifact::Dir { manifest, .. } => *manifest,
        }
    }

    /// Total content size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Artifact::File { size, .. } | Artifact::Dir { size, .. } => *size,
        }
    }

    /// A regular file with `digest` and `size`, executable as `meta` says.
    pub(crate) fn file(digest: Digest, size: u64, meta: &std::fs::Metadata) -> Artifact {
        Artifact::File {
            digest,
            size,
            executable: crate::meta::is_executable(meta),
        }
    }

    /// The directory artifact described by `manifest`.
    pub fn dir(manifest: &TreeManifest) -> Artifact {
        Artifact::Dir {
            manifest: manifest.digest(),
            size: manifest.entries.values().map(|e| e.size).sum(),
            files: manifest.entries.len() as u64,
        }
    }
}

/// A directory listing: relative '/'-separated paths of regular files, sorted.
/// Empty directories are not recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeManifest {
    pub format: u32,
    pub entries: BTreeMap<String, TreeEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    pub digest: Digest,
    pub size: u64,
    pub executable: bool,
}

impl Default for TreeManifest {
    fn default() -> TreeManifest {
        TreeManifest {
            format: TREE_FORMAT,
            entries: BTreeMap::new(),
        }
    }
}

impl TreeManifest {
    /// Compact JSON with fields in declaration order and sorted keys, so equal manifests
    /// always give equal bytes (and digests).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        // Cannot fail: every map key is a string and no Serialize impl here errors.
        serde_json::to_vec(self).expect("tree manifest serializes to json")
    }

    pub fn digest(&self) -> Digest {
        Digest::of_bytes(&self.to_canonical_bytes())
    }

    /// Parses a manifest read from the store (whose digest is `digest`) and checks that it
    /// is safe to materialize: known format, and no entry escapes the destination.
    pub(crate) fn from_stored_bytes(
        bytes: &[u8],
        digest: &Digest,
        path: &std::path::Path,
    ) -> Result<TreeManifest, CacheError> {
        let tree: TreeManifest =
            serde_json::from_slice(bytes).map_err(|source| CacheError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        if tree.format != TREE_FORMAT {
            return Err(CacheError::TreeFormat {
                digest: *digest,
                found: tree.format,
            });
        }
        if let Some(name) = tree.entries.keys().find(|n| !is_safe_relative(n)) {
            return Err(CacheError::UnsafeEntry {
                digest: *digest,
                name: name.clone(),
            });
        }
        Ok(tree)
    }
}

/// True for "a/b.txt"; false for "", "/a", "a//b", "../a", "a/./b", or names with NUL or '\'.
fn is_safe_relative(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['\0', '\\'])
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden_manifest() -> TreeManifest {
        let mut tree = TreeManifest::default();
        tree.entries.insert(
            "a.txt".into(),
            TreeEntry {
                digest: Digest::of_bytes(b"a"),
                size: 1,
                executable: false,
            },
        );
        tree.entries.insert(
            "bin/run.sh".into(),
            TreeEntry {
                digest: Digest::of_bytes(b"#!/bin/sh\n"),
                size: 10,
                executable: true,
            },
        );
        tree
    }

    /// Pins the on-disk manifest format: if this changes, every stored dir digest changes,
    /// so TREE_FORMAT must be bumped.
    #[test]
    fn golden_manifest_digest() {
        let tree = golden_manifest();
        let expected_json = format!(
            concat!(
                r#"{{"format":1,"entries":{{"#,
                r#""a.txt":{{"digest":"{}","size":1,"executable":false}},"#,
                r#""bin/run.sh":{{"digest":"{}","size":10,"executable":true}}}}}}"#
            ),
            Digest::of_bytes(b"a"),
            Digest::of_bytes(b"#!/bin/sh\n")
        );
        assert_eq!(
            String::from_utf8(tree.to_canonical_bytes()).unwrap(),
            expected_json
        );
        assert_eq!(
            tree.digest().to_hex(),
            "efa345a70b5801bcc17ad858b0168194cb4a2c19f4116fd57cae120f385dafff"
        );
    }

    #[test]
    fn artifact_json_shape() {
        let art = Artifact::dir(&golden_manifest());
        assert_eq!(art.size(), 11);
        let json = serde_json::to_value(&art).unwrap();
        assert_eq!(json["type"], "dir");
        assert_eq!(json["files"], 2);
        let back: Artifact = serde_json::from_value(json).unwrap();
        assert_eq!(back, art);
    }

    #[test]
    fn rejects_unsafe_names() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "a\\b",
        ] {
            assert!(!is_safe_relative(bad), "{bad:?}");
        }
        for good in ["a", "a/b.txt", "..a", "a/.hidden"] {
            assert!(is_safe_relative(good), "{good:?}");
        }
        let mut tree = golden_manifest();
        tree.entries
            .insert("../evil".into(), tree.entries["a.txt"].clone());
        let bytes = tree.to_canonical_bytes();
        let err =
            TreeManifest::from_stored_bytes(&bytes, &tree.digest(), "m".as_ref()).unwrap_err();
        assert!(matches!(err, CacheError::UnsafeEntry { .. }), "{err:?}");
    }
}
