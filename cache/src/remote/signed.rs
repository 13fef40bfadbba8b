//! Signed action entries: a remote wrapped in [`SignedRemote`] accepts an entry only if the
//! signature beside it (`ac/ab/<hex>.sig`) is an ed25519 signature, by one of the writers
//! its configuration trusts, of exactly the entry's bytes bound to its key. What a teammate
//! (or anyone who can write the folder or bucket) says otherwise is a miss.
//!
//! The wrapper also records who signed: a verified entry gets
//! `metadata["augflow.signed_by"] = {"writer", "public_key"}` before it reaches the local
//! store, and any such field the remote itself sent is dropped first, in every mode, so the
//! field is only ever written by this check.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::{ObjectKind, Remote, RemoteError, RemoteObject, RemoteStats};
use crate::digest::Digest;

/// The metadata field naming the verified signer of a pulled entry.
pub const SIGNED_BY: &str = "augflow.signed_by";
const SIGNATURE_FORMAT: u32 = 1;
/// Domain separation: these signatures mean nothing anywhere else.
const CONTEXT: &[u8] = b"augflow-action-entry-signature-v1\n";

/// Who may write a remote, and how this user signs. No writers: unsigned mode.
#[derive(Clone, Default)]
pub struct SigningConfig {
    /// Trusted writer name → ed25519 public key.
    pub writers: BTreeMap<String, [u8; 32]>,
    /// This user's ed25519 secret key (seed), if configured.
    pub secret: Option<[u8; 32]>,
}

impl std::fmt::Debug for SigningConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningConfig")
            .field("writers", &self.writers.keys().collect::<Vec<_>>())
            .field("secret", &self.secret.map(|_| "<set>"))
            .finish()
    }
}

/// The public key of a secret key (seed).
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(secret).verifying_key().to_bytes()
}

/// A key written as 64 hex digits (what `augflow remote keygen` prints and writes).
pub fn parse_key_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let text = text.strip_prefix("ed25519:").unwrap_or(text);
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

pub fn key_hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    format: u32,
    public_key: String,
    signature: String,
}

fn message(key: &Digest, entry: &[u8]) -> Vec<u8> {
    let mut msg = CONTEXT.to_vec();
    msg.extend_from_slice(key.to_hex().as_bytes());
    msg.push(b'\n');
    msg.extend_from_slice(entry);
    msg
}

/// A remote whose action entries are signed and checked (see the module docs).
pub struct SignedRemote {
    inner: Box<dyn Remote>,
    writers: BTreeMap<String, VerifyingKey>,
    key: Option<SigningKey>,
    warned_unsigned_push: AtomicBool,
}

impl SignedRemote {
    /// Wraps `inner`. Public keys that are not valid curve points are refused.
    pub fn new(
        inner: Box<dyn Remote>,
        config: &SigningConfig,
    ) -> Result<SignedRemote, RemoteError> {
        let mut writers = BTreeMap::new();
        for (name, bytes) in &config.writers {
            let key = VerifyingKey::from_bytes(bytes).map_err(|_| RemoteError::Config {
                remote: inner.describe(),
                reason: format!("writer `{name}` has an invalid ed25519 public key"),
            })?;
            writers.insert(name.clone(), key);
        }
        Ok(SignedRemote {
            inner,
            writers,
            key: config.secret.as_ref().map(SigningKey::from_bytes),
            warned_unsigned_push: AtomicBool::new(false),
        })
    }

    fn signed_mode(&self) -> bool {
        !self.writers.is_empty()
    }

    /// The trusted writer who signed `bytes` for `key`, if any.
    fn verified_writer(
        &self,
        key: &Digest,
        bytes: &[u8],
    ) -> Result<Option<(String, String)>, RemoteError> {
        let Some(sig_bytes) = self.inner.get_signature_bytes(key)? else {
            return Ok(None);
        };
        let Ok(file) = serde_json::from_slice::<SignatureFile>(&sig_bytes) else {
            return Ok(None);
        };
        let (Some(public), Some(signature)) = (
            parse_key_hex(&file.public_key),
            decode_signature(&file.signature),
        ) else {
            return Ok(None);
        };
        if file.format != SIGNATURE_FORMAT {
            return Ok(None);
        }
        let Some((name, verifying)) = self.writers.iter().find(|(_, k)| k.to_bytes() == public)
        else {
            return Ok(None);
        };
        let ok = verifying
            .verify_strict(&message(key, bytes), &signature)
            .is_ok();
        Ok(ok.then(|| (name.clone(), key_hex(&public))))
    }

    fn sign(&self, key: &Digest, bytes: &[u8]) -> Option<Vec<u8>> {
        let signing = self.key.as_ref()?;
        let signature = signing.sign(&message(key, bytes));
        let file = SignatureFile {
            format: SIGNATURE_FORMAT,
            public_key: key_hex(&signing.verifying_key().to_bytes()),
            signature: signature
                .to_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        };
        serde_json::to_vec(&file).ok()
    }

    fn put_signature(&self, key: &Digest, bytes: &[u8]) -> Result<(), RemoteError> {
        match self.sign(key, bytes) {
            Some(sig) => self.inner.put_signature_bytes(key, &sig),
            None => {
                if self.signed_mode() && !self.warned_unsigned_push.swap(true, Ordering::SeqCst) {
                    let remote = self.inner.describe();
                    tracing::warn!(
                        %remote,
                        "pushing unsigned entries to a signed remote: its readers will ignore \
                         them (set AUGFLOW_SIGNING_KEY or signing_key in the user config)"
                    );
                }
                Ok(())
            }
        }
    }
}

fn decode_signature(hex: &str) -> Option<Signature> {
    if hex.len() != 128 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 64];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(Signature::from_bytes(&out))
}

/// `bytes` with any self-reported signer dropped and, if given, the verified one recorded.
/// Unparsable bytes are returned as they are (the caller rejects them).
fn with_signer(bytes: Vec<u8>, signer: Option<(String, String)>) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return bytes;
    };
    let Some(metadata) = value
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return bytes;
    };
    let had = metadata.remove(SIGNED_BY).is_some();
    if !had && signer.is_none() {
        return bytes;
    }
    if let Some((writer, public_key)) = signer {
        metadata.insert(
            SIGNED_BY.to_string(),
            serde_json::json!({"writer": writer, "public_key": public_key}),
        );
    }
    serde_json::to_vec_pretty(&value).unwrap_or(bytes)
}

impl Remote for SignedRemote {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn get_action_bytes(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some(bytes) = self.inner.get_action_bytes(key)? else {
            return Ok(None);
        };
        if !self.signed_mode() {
            return Ok(Some(with_signer(bytes, None)));
        }
        match self.verified_writer(key, &bytes)? {
            Some(signer) => Ok(Some(with_signer(bytes, Some(signer)))),
            None => {
                let remote = self.inner.describe();
                tracing::warn!(
                    %key, %remote,
                    "ignoring remote action entry: no valid signature by a trusted writer"
                );
                Ok(None)
            }
        }
    }

    fn put_action_bytes_if_absent(&self, key: &Digest, bytes: &[u8]) -> Result<bool, RemoteError> {
        if self.inner.put_action_bytes_if_absent(key, bytes)? {
            self.put_signature(key, bytes)?;
            return Ok(true);
        }
        // Taken: by a valid entry (first writer wins), or by one readers ignore, which a
        // trusted writer replaces.
        if !self.may_replace_broken() {
            return Ok(false);
        }
        let Some(existing) = self.inner.get_action_bytes(key)? else {
            return Ok(false);
        };
        if self.verified_writer(key, &existing)?.is_some() {
            return Ok(false);
        }
        self.put_action_bytes(key, bytes)?;
        Ok(true)
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, RemoteError> {
        self.inner.has_blob(digest)
    }

    fn get_blob_to_file(&self, digest: &Digest, dest: &Path, max: u64) -> Result<(), RemoteError> {
        self.inner.get_blob_to_file(digest, dest, max)
    }

    fn put_blob_from_file(&self, digest: &Digest, src: &Path) -> Result<(), RemoteError> {
        self.inner.put_blob_from_file(digest, src)
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<RemoteObject>, RemoteError> {
        self.inner.list(kind)
    }

    fn delete(&self, kind: ObjectKind, digest: &Digest) -> Result<(), RemoteError> {
        self.inner.delete(kind, digest)
    }

    fn stats(&self) -> RemoteStats {
        self.inner.stats()
    }

    fn get_signature_bytes(&self, key: &Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        self.inner.get_signature_bytes(key)
    }

    fn put_signature_bytes(&self, key: &Digest, bytes: &[u8]) -> Result<(), RemoteError> {
        self.inner.put_signature_bytes(key, bytes)
    }

    fn delete_signature(&self, key: &Digest) -> Result<(), RemoteError> {
        self.inner.delete_signature(key)
    }

    fn put_action_bytes(&self, key: &Digest, bytes: &[u8]) -> Result<(), RemoteError> {
        // Entry first: a reader in between sees the new entry with the old signature, a miss.
        self.inner.put_action_bytes(key, bytes)?;
        self.put_signature(key, bytes)
    }

    fn refresh_blob(&self, digest: &Digest, local: &Path) -> Result<(), RemoteError> {
        self.inner.refresh_blob(digest, local)
    }

    fn may_replace_broken(&self) -> bool {
        let Some(key) = &self.key else {
            return false;
        };
        let public = key.verifying_key();
        self.writers.values().any(|k| *k == public)
    }
}
