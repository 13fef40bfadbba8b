//! Sorted directory traversal, so the order of images never depends on the file system.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::StageError;

/// Deeper than this is taken for a symlink loop rather than a data set.
const MAX_DEPTH: usize = 32;

/// File name extensions read as images (compared case-insensitively).
const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "dcm", "dicom", "dic"];

/// The entries of one directory, split into sub-directories and files, each sorted by
/// name. Symlinks are followed. Hidden directories (`.git`, `.cache`) are left out:
/// they are never classes or data.
pub(crate) struct Listing {
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
}

pub(crate) fn list(dir: &Path) -> Result<Listing, StageError> {
    let list_err = |source| StageError::ListDir {
        path: dir.to_owned(),
        source,
    };
    let mut listing = Listing {
        dirs: Vec::new(),
        files: Vec::new(),
    };
    for entry in fs::read_dir(dir).map_err(list_err)? {
        let path = entry.map_err(list_err)?.path();
        let meta = fs::metadata(&path).map_err(|source| StageError::Read {
            path: path.clone(),
            source,
        })?;
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        match (meta.is_dir(), hidden) {
            (true, true) => {}
            (true, false) => listing.dirs.push(path),
            (false, _) => listing.files.push(path),
        }
    }
    listing.dirs.sort();
    listing.files.sort();
    Ok(listing)
}

/// Every file at any depth below `dir`, in sorted depth-first order.
pub(crate) fn files_below(dir: &Path) -> Result<Vec<PathBuf>, StageError> {
    let mut out = Vec::new();
    collect(dir, 0, &mut out)?;
    Ok(out)
}

fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), StageError> {
    if depth > MAX_DEPTH {
        return Err(StageError::InvalidData {
            path: dir.to_owned(),
            reason: format!("it is nested more than {MAX_DEPTH} folders deep (a symlink loop?)"),
        });
    }
    let listing = list(dir)?;
    out.extend(listing.files);
    for sub in &listing.dirs {
        collect(sub, depth + 1, out)?;
    }
    Ok(())
}

/// Whether a listed file is meant as an image: a known extension, or no extension and
/// the DICOM magic (DICOM files often come without one). Hidden files (`.DS_Store`)
/// never are.
pub(crate) fn is_image_file(path: &Path) -> Result<bool, StageError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if name.starts_with('.') {
        return Ok(false);
    }
    match path.extension() {
        Some(ext) => {
            let ext = ext.to_string_lossy();
            Ok(IMAGE_EXTENSIONS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(&ext)))
        }
        None => has_dicom_magic(path),
    }
}

fn has_dicom_magic(path: &Path) -> Result<bool, StageError> {
    let mut head = [0u8; 132];
    let mut file = fs::File::open(path).map_err(|source| StageError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(StageError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(&head[128..] == b"DICM")
}
