//! A remote in a shared folder (NFS, SMB, a mounted bucket…): the local store's layout,
//! written with the same temp-file + fsync + rename discipline.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::layout::{self, ACTIONS, FORMAT_FILE, OBJECTS};
use super::stats::Counters;
use super::{ObjectKind, Remote, RemoteError, RemoteObject, RemoteStats};
use crate::atomic::TEMP_PREFIX;
use crate::digest::Digest;
use crate::error::CacheError;
use crate::hashing::copy_hashing;
use crate::meta;

const TMP: &str = "tmp";

/// A remote cache in a folder every teammate can write.
#[derive(Debug)]
pub struct DirRemote {
    root: PathBuf,
    /// Given to every directory this creates, so that a group-writable (setgid) root stays
    /// writable by the whole team whatever each member's umask is.
    dir_permissions: fs::Permissions,
    stats: Counters,
}

impl DirRemote {
    /// Opens the remote at `path`, creating it (and its FORMAT) if needed. A folder with
    /// another FORMAT is refused.
    pub fn open(path: &Path) -> Result<DirRemote, RemoteError> {
        let root = std::path::absolute(path).map_err(|e| RemoteError::Local {
            op: "resolve",
            path: path.to_path_buf(),
            source: e,
        })?;
        let local_err = |op, source| RemoteError::Local {
            op,
            path: root.clone(),
            source,
        };
        fs::create_dir_all(&root).map_err(|e| local_err("create remote folder", e))?;
        let dir_permissions = fs::metadata(&root)
            .map_err(|e| local_err("stat remote folder", e))?
            .permissions();
        let remote = DirRemote {
            root,
            dir_permissions,
            stats: Counters::default(),
        };
        remote.check_format()?;
        for dir in [OBJECTS, ACTIONS, TMP] {
            remote.create_dir(&remote.root.join(dir), dir)?;
        }
        Ok(remote)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object lives on disk (for tests and tools that inspect the folder).
    pub fn object_path(&self, kind: ObjectKind, d: &Digest) -> PathBuf {
        self.root.join(layout::object_name(kind, d))
    }

    fn check_format(&self) -> Result<(), RemoteError> {
        let path = self.root.join(FORMAT_FILE);
        let expected = layout::format_contents();
        match fs::read_to_string(&path) {
            Ok(found) if found == expected => Ok(()),
            Ok(found) => Err(RemoteError::Format {
                remote: self.describe(),
                path: FORMAT_FILE.to_string(),
                found: found.trim_end().to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Teammates creating the remote at once all write the same bytes.
                let mut tmp = self.temp_in(&self.root, FORMAT_FILE)?;
                tmp.write_all(expected.as_bytes())
                    .map_err(|e| self.io_err("write", FORMAT_FILE, e))?;
                self.persist(tmp, &path, meta::FILE_MODE, FORMAT_FILE)
            }
            Err(e) => Err(self.io_err("read", FORMAT_FILE, e)),
        }
    }

    fn io_err(&self, op: &'static str, name: &str, source: io::Error) -> RemoteError {
        RemoteError::Io {
            op,
            remote: self.describe(),
            path: name.to_string(),
            source,
        }
    }

    /// Creates `dir` if missing, with the root's permissions; `name` is for errors.
    fn create_dir(&self, dir: &Path, name: &str) -> Result<(), RemoteError> {
        match fs::create_dir(dir) {
            Ok(()) => {
                if let Err(e) = fs::set_permissions(dir, self.dir_permissions.clone()) {
                    tracing::debug!(dir = %dir.display(), error = %e, "could not set permissions");
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(self.io_err("create directory", name, e)),
        }
    }

    /// Creates the shard directory of `name` (`objects/ab/…`).
    fn create_parent(&self, name: &str) -> Result<(), RemoteError> {
        let path = self.root.join(name);
        match path.parent() {
            Some(parent) => self.create_dir(parent, name),
            None => Ok(()),
        }
    }

    fn temp_in(&self, dir: &Path, name: &str) -> Result<NamedTempFile, RemoteError> {
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
            .map_err(|e| self.io_err("create a temp file for", name, e))
    }

    /// fsync, mode, then rename over `dest`: readers see nothing or the whole file.
    fn persist(
        &self,
        tmp: NamedTempFile,
        dest: &Path,
        mode: u32,
        name: &str,
    ) -> Result<(), RemoteError> {
        self.sync(&tmp, mode, name)?;
        tmp.persist(dest)
            .map_err(|e| self.io_err("rename a temp file to", name, e.error))?;
        Ok(())
    }

    fn sync(&self, tmp: &NamedTempFile, mode: u32, name: &str) -> Result<(), RemoteError> {
        let file = tmp.as_file();
        file.sync_all().map_err(|e| self.io_err("sync", name, e))?;
        meta::set_mode(file, mode).map_err(|e| self.io_err("set permissions on", name, e))
    }

    fn list_names(&self, dir: &Path, name: &str) -> Result<Vec<String>, RemoteError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_err("list", name, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.io_err("list", name, e))?;
            names.extend(entry.file_name().into_string().ok());
        }
        Ok(names)
    }
}

impl Remote for DirRemote {
    fn describe(&self) -> String {
        format!("dir:{}", self.root.display())
    }

    fn get_action_bytes(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let name = layout::object_name(ObjectKind::Action, key);
        self.stats.get();
        match fs::read(self.root.join(&name)) {
            Ok(bytes) => {
                self.stats.downloaded(bytes.len() as u64);
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_err("read", &name, e)),
        }
    }

    fn put_action_bytes_if_absent(&self, key: &Digest, bytes: &[u8]) -> Result<bool, RemoteError> {
        let name = layout::object_name(ObjectKind::Action, key);
        self.create_parent(&name)?;
        let mut tmp = self.temp_in(&self.root.join(TMP), &name)?;
        tmp.write_all(bytes)
            .map_err(|e| self.io_err("write", &name, e))?;
        self.sync(&tmp, meta::FILE_MODE, &name)?;
        self.stats.put();
        // link(2) fails if the name exists, atomically, also over NFS: the conditional
        // create. The temp is removed when `tmp` drops.
        match fs::hard_link(tmp.path(), self.root.join(&name)) {
            Ok(()) => {
                self.stats.uploaded(bytes.len() as u64);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.io_err("create", &name, e)),
        }
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, RemoteError> {
        let name = layout::object_name(ObjectKind::Blob, digest);
        self.stats.head();
        match fs::symlink_metadata(self.root.join(&name)) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_err("stat", &name, e)),
        }
    }

    fn get_blob_to_file(&self, digest: &Digest, dest: &Path) -> Result<(), RemoteError> {
        let name = layout::object_name(ObjectKind::Blob, digest);
        self.stats.get();
        let mut src = match File::open(self.root.join(&name)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RemoteError::NotFound {
                    op: "download",
                    remote: self.describe(),
                    path: name,
                });
            }
            Err(e) => return Err(self.io_err("open", &name, e)),
        };
        let mut out = File::create(dest).map_err(|e| RemoteError::Local {
            op: "create",
            path: dest.to_path_buf(),
            source: e,
        })?;
        // io::copy uses copy_file_range where it can; errors are the remote's or dest's, and
        // telling which is not worth a second pass: name the remote object.
        let n = io::copy(&mut src, &mut out).map_err(|e| self.io_err("download", &name, e))?;
        self.stats.downloaded(n);
        Ok(())
    }

    fn put_blob_from_file(&self, digest: &Digest, src: &Path) -> Result<(), RemoteError> {
        let name = layout::object_name(ObjectKind::Blob, digest);
        let mut input = File::open(src).map_err(|e| RemoteError::Local {
            op: "open",
            path: src.to_path_buf(),
            source: e,
        })?;
        self.create_parent(&name)?;
        let mut tmp = self.temp_in(&self.root.join(TMP), &name)?;
        let tmp_path = tmp.path().to_path_buf();
        let (got, size) =
            copy_hashing(&mut input, tmp.as_file_mut(), src, &tmp_path).map_err(|e| match e {
                CacheError::Io { op, path, source } => RemoteError::Local { op, path, source },
                other => RemoteError::Local {
                    op: "upload",
                    path: src.to_path_buf(),
                    source: io::Error::other(other.to_string()),
                },
            })?;
        if got != *digest {
            return Err(RemoteError::SourceMismatch {
                remote: self.describe(),
                path: src.to_path_buf(),
                digest: *digest,
            });
        }
        self.stats.put();
        // Renaming over an existing copy is harmless (same content) and repairs a damaged one.
        self.persist(tmp, &self.root.join(&name), meta::BLOB_MODE, &name)?;
        self.stats.uploaded(size);
        Ok(())
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<RemoteObject>, RemoteError> {
        let top = layout::kind_dir(kind);
        let dir = self.root.join(top);
        self.stats.list(1);
        let mut out = Vec::new();
        for shard in self.list_names(&dir, top)? {
            let shard_name = format!("{top}/{shard}");
            for name in self.list_names(&dir.join(&shard), &shard_name)? {
                let Some(digest) = layout::parse_name(kind, &shard, &name) else {
                    continue;
                };
                let path = dir.join(&shard).join(&name);
                let meta = match fs::symlink_metadata(&path) {
                    Ok(meta) if meta.is_file() => meta,
                    Ok(_) => continue,
                    // Removed meanwhile (a concurrent gc).
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(self.io_err("stat", &format!("{shard_name}/{name}"), e)),
                };
                let last_modified = meta
                    .modified()
                    .map_err(|e| self.io_err("stat", &format!("{shard_name}/{name}"), e))?;
                out.push(RemoteObject {
                    digest,
                    size: meta.len(),
                    last_modified,
                });
            }
        }
        out.sort_by_key(|o| o.digest);
        Ok(out)
    }

    fn delete(&self, kind: ObjectKind, digest: &Digest) -> Result<(), RemoteError> {
        let name = layout::object_name(kind, digest);
        self.stats.delete();
        match fs::remove_file(self.root.join(&name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.io_err("delete", &name, e)),
            _ => Ok(()),
        }
    }

    fn stats(&self) -> RemoteStats {
        self.stats.snapshot()
    }
}
