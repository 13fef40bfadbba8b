//! The user's own configuration, outside every repository: remotes declared for all
//! projects, the signing key, and which project-declared remotes the user trusts.
//!
//! It lives in `$AUGFLOW_CONFIG_DIR`, else `$XDG_CONFIG_HOME/augflow`, else
//! `~/.config/augflow`: `config.toml` (written by hand) and `trusted-remotes.json` (written
//! by `augflow remote trust`). A branch can change `augflow.toml`, never these.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ProjectError, RemoteConfig, RemoteSection, absolute_from};

/// Environment variable naming the user config folder (tests, several identities).
pub const CONFIG_DIR_ENV: &str = "AUGFLOW_CONFIG_DIR";
/// Environment variable naming the signing key file (over `signing_key` in config.toml).
pub const SIGNING_KEY_ENV: &str = "AUGFLOW_SIGNING_KEY";
pub const USER_CONFIG_FILE: &str = "config.toml";
const TRUST_FILE: &str = "trusted-remotes.json";
/// Config and trust files are a few KiB; refuse anything absurd.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// `config.toml` in the user config folder.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserConfig {
    #[serde(default)]
    pub remote: RemoteSection,
    #[serde(default)]
    pub remotes: BTreeMap<String, RemoteConfig>,
    /// File holding this user's ed25519 secret key (64 hex digits).
    pub signing_key: Option<PathBuf>,
}

/// The user config folder, if one can be named.
pub fn config_dir() -> Option<PathBuf> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from_env(CONFIG_DIR_ENV)
        .or_else(|| from_env("XDG_CONFIG_HOME").map(|d| d.join("augflow")))
        .or_else(|| from_env("HOME").map(|d| d.join(".config").join("augflow")))
}

/// A small text file, or None if absent; refused if larger than `MAX_FILE_BYTES`.
pub(super) fn read_small(path: &Path) -> Result<Option<String>, ProjectError> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ProjectError::ReadConfig {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let read_err = |source| ProjectError::ReadConfig {
        path: path.to_path_buf(),
        source,
    };
    if !file.metadata().map_err(read_err)?.is_file() {
        return Err(ProjectError::ParseConfig {
            path: path.to_path_buf(),
            message: "it is not a regular file".into(),
        });
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ProjectError::ParseConfig {
            path: path.to_path_buf(),
            message: format!("it is larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    Ok(Some(text))
}

pub(super) fn load_user_config() -> Result<UserConfig, ProjectError> {
    let Some(dir) = config_dir() else {
        return Ok(UserConfig::default());
    };
    let path = dir.join(USER_CONFIG_FILE);
    let Some(text) = read_small(&path)? else {
        return Ok(UserConfig::default());
    };
    let mut config: UserConfig =
        toml::from_str(&text).map_err(|err| ProjectError::ParseConfig {
            path: path.clone(),
            message: err.to_string(),
        })?;
    for remote in config.remotes.values_mut() {
        remote.make_paths_absolute(&dir);
    }
    config.signing_key = config.signing_key.map(|p| absolute_from(&dir, &p));
    Ok(config)
}

/// One `augflow remote trust`: this project's remote `name`, exactly as then defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TrustRecord {
    project: PathBuf,
    remote: String,
    /// blake3 of the remote's definition (its JSON form, paths made absolute).
    definition: String,
}

fn record_for(root: &Path, name: &str, config: &RemoteConfig) -> TrustRecord {
    // An empty root is the current folder (`augflow.yaml` has the parent ""), which
    // `canonicalize` would refuse.
    let root = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    let project = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    // Cannot fail: plain strings, paths and enums.
    let json = serde_json::to_vec(config).expect("remote config serializes");
    TrustRecord {
        project,
        remote: name.to_owned(),
        definition: blake3::hash(&json).to_hex().to_string(),
    }
}

fn load_trust(path: &Path) -> Result<Vec<TrustRecord>, ProjectError> {
    let Some(text) = read_small(path)? else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text).map_err(|err| ProjectError::ParseConfig {
        path: path.to_path_buf(),
        message: err.to_string(),
    })
}

/// True if the user ran `augflow remote trust NAME` in this project for this exact
/// definition (a branch that changes it makes it untrusted again).
pub fn is_trusted(root: &Path, name: &str, config: &RemoteConfig) -> bool {
    let Some(dir) = config_dir() else {
        return false;
    };
    let wanted = record_for(root, name, config);
    match load_trust(&dir.join(TRUST_FILE)) {
        Ok(records) => records.contains(&wanted),
        Err(err) => {
            tracing::warn!(error = %err, "ignoring the trusted-remotes file");
            false
        }
    }
}

/// Records that the user trusts this project's remote `name` as now defined. Returns the
/// file written.
pub fn trust(root: &Path, name: &str, config: &RemoteConfig) -> Result<PathBuf, ProjectError> {
    let dir = config_dir().ok_or_else(|| ProjectError::ParseConfig {
        path: PathBuf::from("~/.config/augflow"),
        message: format!("no user config folder: set {CONFIG_DIR_ENV} or HOME"),
    })?;
    let path = dir.join(TRUST_FILE);
    let mut records = load_trust(&path)?;
    let record = record_for(root, name, config);
    // A remote has one trusted definition per project: the new one replaces the old.
    records.retain(|r| !(r.project == record.project && r.remote == record.remote));
    records.push(record);
    let write_err = |source| ProjectError::ReadConfig {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(write_err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(write_err)?;
    // Cannot fail: strings and paths.
    let json = serde_json::to_vec_pretty(&records).expect("trust records serialize");
    tmp.write_all(&json).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(&path).map_err(|e| write_err(e.error))?;
    Ok(path)
}
