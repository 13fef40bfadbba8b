//! Small filesystem helpers shared by the engine: atomic writes, removal, and the check that
//! keeps writes inside the project.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Writes `value` as pretty JSON to `path` through a temp file in the same folder and a
/// rename, so readers see the old or the new file, never half of one.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes)
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".augflow-tmp-");
    // Like any other tool's output, the file follows the user's umask (0666 & !umask);
    // tempfile's own default is 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut temp = builder.tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

#[cfg(all(test, unix))]
mod umask_tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_writes_follow_the_umask_not_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        super::write_atomic(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // Whatever the umask, group/other read is what 0600 never gives; a umask that
        // removes it (0o077) would make this test meaningless, so it says so.
        assert!(mode & 0o044 != 0 || mode == 0o600, "mode {mode:o}");
        assert_ne!(
            mode, 0o600,
            "mode 0600: the umask is not applied (or is 0o077)"
        );
    }
}

/// Removes a file or a directory tree; absent is fine.
pub fn remove_path(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// `~` or `~/…` with the user's home folder (`$HOME`) in place of `~`, as a shell would
/// expand it; any other path (and `~user`) unchanged, as is everything when `HOME` is unset.
pub fn expand_home(path: &Path) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    expand_home_with(path, home.as_deref().map(Path::new))
}

fn expand_home_with(path: &Path, home: Option<&Path>) -> PathBuf {
    let mut components = path.components();
    match (components.next(), home) {
        (Some(Component::Normal(first)), Some(home)) if first == "~" => {
            home.join(components.as_path())
        }
        _ => path.to_path_buf(),
    }
}

/// Why augflow refuses to write, rename or delete a path inside the project.
#[derive(Debug, thiserror::Error)]
pub enum UnsafePath {
    /// A folder between the project root and the path is a symbolic link: following it could
    /// reach anything the user can write (a committed `evil -> ~` would make `evil/.bashrc`
    /// mean `~/.bashrc`).
    #[error(
        "`{link}` is a symbolic link, and augflow never writes through one (replace it with a real folder)"
    )]
    Symlink { link: String },
    #[error("{path} is not inside the project {root}")]
    Outside { path: PathBuf, root: PathBuf },
    #[error("inspect {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Checks that no folder between `root` and `path` is a symbolic link (git's rule for the
/// paths it writes). The last component may be a link: it is replaced, never followed.
/// Folders that do not exist yet end the walk (augflow creates them as real folders).
///
/// A per-component `symlink_metadata` walk, so a link created concurrently by a running
/// command between this check and the write is not caught; the threat is committed or
/// pulled content, which is in place before augflow starts.
pub fn check_beneath(root: &Path, path: &Path) -> Result<(), UnsafePath> {
    let Ok(relative) = path.strip_prefix(root) else {
        return Err(UnsafePath::Outside {
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        });
    };
    let components: Vec<Component<'_>> = relative.components().collect();
    let mut current = root.to_path_buf();
    let mut shown = PathBuf::new();
    for component in components.iter().take(components.len().saturating_sub(1)) {
        let Component::Normal(part) = component else {
            return Err(UnsafePath::Outside {
                path: path.to_path_buf(),
                root: root.to_path_buf(),
            });
        };
        current.push(part);
        shown.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(UnsafePath::Symlink {
                    link: shown.display().to_string(),
                });
            }
            Ok(meta) if meta.is_dir() => {}
            // A file where a folder should be: the write itself fails (not a directory).
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(UnsafePath::Io {
                    path: current,
                    source,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_a_leading_tilde_only() {
        let home = Some(Path::new("/home/ada"));
        assert_eq!(
            expand_home_with(Path::new("~/.cache/augflow"), home),
            Path::new("/home/ada/.cache/augflow")
        );
        assert_eq!(
            expand_home_with(Path::new("~"), home),
            Path::new("/home/ada")
        );
        for unchanged in ["~bob/x", "cache/~/x", "/abs/~", "rel"] {
            assert_eq!(
                expand_home_with(Path::new(unchanged), home),
                Path::new(unchanged)
            );
        }
        assert_eq!(expand_home_with(Path::new("~/x"), None), Path::new("~/x"));
    }

    #[test]
    fn refuses_a_symlinked_folder_on_the_way() {
        let project = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let root = project.path();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.join("real/evil")).unwrap();

        let err = check_beneath(root, &root.join("real/evil/.bashrc")).unwrap_err();
        assert!(
            matches!(&err, UnsafePath::Symlink { link, .. } if link == "real/evil"),
            "{err:?}"
        );
        // Deeper paths and missing folders past the link are refused too.
        assert!(check_beneath(root, &root.join("real/evil/a/b")).is_err());
        // The link itself as the last component is replaced, not followed: allowed.
        check_beneath(root, &root.join("real/evil")).unwrap();
        check_beneath(root, &root.join("real/sub/file")).unwrap();
        check_beneath(root, &root.join("not/yet/there")).unwrap();
        assert!(matches!(
            check_beneath(root, elsewhere.path()),
            Err(UnsafePath::Outside { .. })
        ));
    }
}
