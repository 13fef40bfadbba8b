//! Blob transfers for [`S3Remote`]: streamed downloads, and uploads hashed as they are sent
//! (single PUT for small blobs, multipart above [`PART_SIZE`]).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use object_store::{ObjectStore, ObjectStoreExt, PutOptions, WriteMultipart};

use super::S3Remote;
use super::layout;
use super::{ObjectKind, RemoteError};
use crate::digest::Digest;

/// Blobs up to this size go in one PUT (read into memory); larger ones in parts of at least
/// this size. S3 wants parts of at least 5 MiB and at most 10,000 of them; 8 MiB parts also
/// upload well within the read timeout on a slow link.
const PART_SIZE: u64 = 8 << 20;
const MAX_PARTS: u64 = 10_000;
/// Parts uploading at once per blob (memory: about (this + 1) × part size).
const PARTS_IN_FLIGHT: usize = 2;
const READ_BUFFER: usize = 1 << 20;

impl S3Remote {
    /// Streams the blob into `dest`, stopping past `max` bytes (its declared size).
    pub(super) fn download_blob(
        &self,
        digest: &Digest,
        dest: &Path,
        max: u64,
    ) -> Result<(), RemoteError> {
        let name = layout::object_name(ObjectKind::Blob, digest);
        let mut out = File::create(dest).map_err(|e| local("create", dest, e))?;
        self.get_bounded(&name, &mut out, max)
            .map_err(|e| match e {
                RemoteError::Local { op, source, .. } => local(op, dest, source),
                e => e,
            })?;
        Ok(())
    }

    pub(super) fn upload_blob(&self, digest: &Digest, src: &Path) -> Result<(), RemoteError> {
        let name = layout::object_name(ObjectKind::Blob, digest);
        let mut file = File::open(src).map_err(|e| local("open", src, e))?;
        let size = file.metadata().map_err(|e| local("stat", src, e))?.len();
        if size <= PART_SIZE {
            self.upload_small(digest, src, &name, &mut file)
        } else {
            self.upload_multipart(digest, src, &name, &mut file, size)
        }
    }

    fn upload_small(
        &self,
        digest: &Digest,
        src: &Path,
        name: &str,
        file: &mut File,
    ) -> Result<(), RemoteError> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| local("read", src, e))?;
        // Verified in memory: exactly these bytes are sent.
        if Digest::of_bytes(&bytes) != *digest {
            return Err(self.mismatch(digest, src));
        }
        let len = bytes.len() as u64;
        self.stats.put();
        // Overwrite: same content by definition, and it repairs a damaged copy.
        let path = self.path(name);
        let put = self
            .store
            .put_opts(&path, bytes.into(), PutOptions::default());
        self.block_on(put)
            .map_err(|e| self.err("upload", name, e))?;
        self.stats.uploaded(len);
        Ok(())
    }

    /// Parts are hashed as they are read and the upload is completed only if the whole file
    /// matched: otherwise it is aborted and no object appears.
    fn upload_multipart(
        &self,
        digest: &Digest,
        src: &Path,
        name: &str,
        file: &mut File,
        size: u64,
    ) -> Result<(), RemoteError> {
        let part_size = PART_SIZE.max(size.div_ceil(MAX_PARTS));
        let path = self.path(name);
        let sent = self.block_on(async {
            let upload = self.store.put_multipart(&path).await;
            let upload = upload.map_err(|e| self.err("start upload of", name, e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size as usize);
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; READ_BUFFER];
            let mut sent = 0u64;
            let failure = loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => break Some(local("read", src, e)),
                };
                if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    break Some(self.err("upload", name, e));
                }
                hasher.update(&buf[..n]);
                writer.write(&buf[..n]);
                sent += n as u64;
            };
            let failure = failure.or_else(|| {
                (Digest::from(hasher.finalize()) != *digest).then(|| self.mismatch(digest, src))
            });
            if let Some(e) = failure {
                if let Err(abort) = writer.abort().await {
                    // Leaves an incomplete upload that a bucket lifecycle rule cleans up.
                    tracing::warn!(object = name, error = %abort, "could not abort multipart upload");
                }
                return Err(e);
            }
            writer
                .finish()
                .await
                .map_err(|e| self.err("complete upload of", name, e))?;
            Ok::<u64, RemoteError>(sent)
        })?;
        // Start, parts, completion.
        self.stats.puts(sent.div_ceil(part_size) + 2);
        self.stats.uploaded(sent);
        Ok(())
    }

    fn mismatch(&self, digest: &Digest, src: &Path) -> RemoteError {
        RemoteError::SourceMismatch {
            remote: self.describe.clone(),
            path: src.to_path_buf(),
            digest: *digest,
        }
    }
}

fn local(op: &'static str, path: &Path, source: io::Error) -> RemoteError {
    RemoteError::Local {
        op,
        path: path.to_path_buf(),
        source,
    }
}
