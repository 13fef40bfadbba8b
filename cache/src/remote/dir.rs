//! A remote in a shared folder (NFS, SMB, a mounted bucket…): the local store's layout,
//! written with the same temp-file + fsync + rename discipline.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::NamedTempFile;

use super::bounded::{self, Bounded, DIR_TIMEOUT, MAX_ENTRY_BYTES, MAX_SIGNATURE_BYTES};
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
    /// `shared = "group"`: files group-readable, folders group-writable and setgid.
    group: bool,
    /// The longest one object may take to read or write.
    timeout: Duration,
    stats: Counters,
}

/// Folder modes with `shared = "group"`: setgid keeps the group on new entries.
const GROUP_DIR_MODE: u32 = 0o2775;
const GROUP_FILE_MODE: u32 = 0o664;
const GROUP_BLOB_MODE: u32 = 0o444;

impl DirRemote {
    /// Opens the remote at `path`, creating it (and its FORMAT) if needed. A folder with
    /// another FORMAT is refused.
    pub fn open(path: &Path) -> Result<DirRemote, RemoteError> {
        DirRemote::open_with(path, false, DIR_TIMEOUT)
    }

    /// [`DirRemote::open`] for a folder shared by a Unix group (`group`: files stay
    /// group-readable and folders group-writable whoever creates them), with a per-object
    /// time limit.
    pub fn open_with(
        path: &Path,
        group: bool,
        timeout: Duration,
    ) -> Result<DirRemote, RemoteError> {
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
        let mut dir_permissions = fs::metadata(&root)
            .map_err(|e| local_err("stat remote folder", e))?
            .permissions();
        if group {
            dir_permissions = group_dir_permissions(dir_permissions);
            if let Err(e) = fs::set_permissions(&root, dir_permissions.clone()) {
                // Someone else's folder: its mode is theirs to set.
                tracing::debug!(root = %root.display(), error = %e, "could not set permissions");
            }
        }
        let remote = DirRemote {
            root,
            dir_permissions,
            group,
            timeout,
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
        match self.read_small(&path, FORMAT_FILE, 256) {
            Ok(Some(found)) if found == expected.as_bytes() => Ok(()),
            Ok(Some(found)) => Err(RemoteError::Format {
                remote: self.describe(),
                path: FORMAT_FILE.to_string(),
                found: String::from_utf8_lossy(&found).trim_end().to_string(),
            }),
            Ok(None) => {
                // Teammates creating the remote at once all write the same bytes.
                let mut tmp = self.temp_in(&self.root, FORMAT_FILE)?;
                tmp.write_all(expected.as_bytes())
                    .map_err(|e| self.io_err("write", FORMAT_FILE, e))?;
                self.persist(tmp, &path, self.file_mode(), FORMAT_FILE)
            }
            Err(e) => Err(e),
        }
    }

    /// A whole small object, or None if absent; refused unless a regular file of at most
    /// `max` bytes read within the timeout.
    fn read_small(
        &self,
        path: &Path,
        name: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        let read = bounded::open_regular(path)
            .and_then(|mut file| bounded::read_bounded(&mut file, max, self.timeout));
        match read {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.refused("read", name, e)),
        }
    }

    fn refused(&self, op: &'static str, name: &str, reason: Bounded) -> RemoteError {
        match reason {
            Bounded::Io(source) => self.io_err(op, name, source),
            reason => RemoteError::Refused {
                op,
                remote: self.describe(),
                path: name.to_string(),
                reason,
            },
        }
    }

    fn file_mode(&self) -> u32 {
        if self.group {
            GROUP_FILE_MODE
        } else {
            meta::FILE_MODE
        }
    }

    fn blob_mode(&self) -> u32 {
        if self.group {
            GROUP_BLOB_MODE
        } else {
            meta::BLOB_MODE
        }
    }

    /// Deletes the object `name`; one already gone is fine.
    fn remove_named(&self, name: &str) -> Result<(), RemoteError> {
        match fs::remove_file(self.root.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.io_err("delete", name, e)),
            _ => Ok(()),
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
            // A shard replaced by a symlink would send our writes elsewhere.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::symlink_metadata(dir) {
                Ok(meta) if meta.is_dir() => Ok(()),
                Ok(_) => Err(self.refused("create directory", name, Bounded::NotRegular)),
                Err(e) => Err(self.io_err("create directory", name, e)),
            },
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

impl DirRemote {
    /// Writes a small object over any existing one (temp file, fsync, rename).
    fn replace_small(&self, name: &str, bytes: &[u8]) -> Result<(), RemoteError> {
        self.create_parent(name)?;
        let mut tmp = self.temp_in(&self.root.join(TMP), name)?;
        tmp.write_all(bytes)
            .map_err(|e| self.io_err("write", name, e))?;
        self.stats.put();
        self.persist(tmp, &self.root.join(name), self.file_mode(), name)?;
        self.stats.uploaded(bytes.len() as u64);
        Ok(())
    }
}

#[cfg(unix)]
fn owned_by_me(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    meta.uid() == unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn owned_by_me(_meta: &fs::Metadata) -> bool {
    true
}

/// The mode of every folder of a group-shared remote (unchanged where modes do not exist).
fn group_dir_permissions(current: fs::Permissions) -> fs::Permissions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = current;
        fs::Permissions::from_mode(GROUP_DIR_MODE)
    }
    #[cfg(not(unix))]
    current
}

impl Remote for DirRemote {
    fn describe(&self) -> String {
        format!("dir:{}", self.root.display())
    }

    fn get_action_bytes(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let name = layout::object_name(ObjectKind::Action, key);
        self.stats.get();
        let bytes = self.read_small(&self.root.join(&name), &name, MAX_ENTRY_BYTES)?;
        if let Some(bytes) = &bytes {
            self.stats.downloaded(bytes.len() as u64);
        }
        Ok(bytes)
    }

    fn get_signature_bytes(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let name = layout::signature_name(key);
        self.stats.get();
        self.read_small(&self.root.join(&name), &name, MAX_SIGNATURE_BYTES)
    }

    fn put_signature_bytes(&self, key: &Digest, bytes: &[u8]) -> Result<(), RemoteError> {
        self.replace_small(&layout::signature_name(key), bytes)
    }

    fn delete_signature(&self, key: &Digest) -> Result<(), RemoteError> {
        self.remove_named(&layout::signature_name(key))
    }

    fn put_action_bytes(&self, key: &Digest, bytes: &[u8]) -> Result<(), RemoteError> {
        self.replace_small(&layout::object_name(ObjectKind::Action, key), bytes)
    }

    fn put_action_bytes_if_absent(&self, key: &Digest, bytes: &[u8]) -> Result<bool, RemoteError> {
        let name = layout::object_name(ObjectKind::Action, key);
        self.create_parent(&name)?;
        let mut tmp = self.temp_in(&self.root.join(TMP), &name)?;
        tmp.write_all(bytes)
            .map_err(|e| self.io_err("write", &name, e))?;
        self.sync(&tmp, self.file_mode(), &name)?;
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

    fn get_blob_to_file(&self, digest: &Digest, dest: &Path, max: u64) -> Result<(), RemoteError> {
        let name = layout::object_name(ObjectKind::Blob, digest);
        self.stats.get();
        let mut src = match bounded::open_regular(&self.root.join(&name)) {
            Ok(file) => file,
            Err(e) if e.is_not_found() => {
                return Err(RemoteError::NotFound {
                    op: "download",
                    remote: self.describe(),
                    path: name,
                });
            }
            Err(e) => return Err(self.refused("open", &name, e)),
        };
        let mut out = File::create(dest).map_err(|e| RemoteError::Local {
            op: "create",
            path: dest.to_path_buf(),
            source: e,
        })?;
        // Errors are the remote's or dest's, and telling which is not worth a second pass:
        // name the remote object.
        let n = bounded::copy_bounded(&mut src, &mut out, max, self.timeout)
            .map_err(|e| self.refused("download", &name, e))?;
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
        self.persist(tmp, &self.root.join(&name), self.blob_mode(), &name)?;
        self.stats.uploaded(size);
        Ok(())
    }

    /// Sets the blob's mtime to now if it is ours; a teammate's blob (which only its owner
    /// may touch) is replaced by our identical copy instead, renamed over it: a
    /// group-writable folder allows that, and the new file is ours and new.
    fn refresh_blob(&self, digest: &Digest, local: &Path) -> Result<(), RemoteError> {
        let name = layout::object_name(ObjectKind::Blob, digest);
        let path = self.root.join(&name);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) => return Err(self.io_err("stat", &name, e)),
        };
        if !meta.is_file() {
            return Err(self.refused("refresh", &name, Bounded::NotRegular));
        }
        if owned_by_me(&meta) {
            let touched =
                File::open(&path).and_then(|f| f.set_modified(std::time::SystemTime::now()));
            match touched {
                Ok(()) => return Ok(()),
                Err(e) => tracing::debug!(blob = %name, error = %e, "could not touch; replacing"),
            }
        }
        self.put_blob_from_file(digest, local)
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
        self.stats.delete();
        self.remove_named(&layout::object_name(kind, digest))
    }

    fn stats(&self) -> RemoteStats {
        self.stats.snapshot()
    }
}
