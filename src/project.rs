//! Where a project's state lives: `.augflow/` beside the pipeline file, and the store
//! (by default `.augflow/store`, else from `--store`, `AUGFLOW_STORE` or `augflow.toml`).

mod user;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use user::{CONFIG_DIR_ENV, SIGNING_KEY_ENV, USER_CONFIG_FILE, config_dir, is_trusted, trust};

/// Name of the optional project config file beside the pipeline.
pub const CONFIG_FILE: &str = "augflow.toml";
/// Environment variable naming the store folder.
pub const STORE_ENV: &str = "AUGFLOW_STORE";

#[derive(Debug, Clone)]
pub struct Project {
    /// The pipeline file's folder.
    pub root: PathBuf,
    /// `.augflow/` beside the pipeline.
    pub state_dir: PathBuf,
    /// The content-addressed store (may be shared between projects and people).
    pub store_dir: PathBuf,
    /// `[store] shared = "group"`: the store is created (or converted) for a Unix group.
    pub store_shared: SharedMode,
    /// Remote caches declared in `augflow.toml` or the user's config, by name.
    pub remotes: BTreeMap<String, RemoteConfig>,
    /// Where each remote was declared: a project's are used only once trusted.
    pub remote_origins: BTreeMap<String, RemoteOrigin>,
    pub default_remote: Option<String>,
    /// The user's signing key file (`AUGFLOW_SIGNING_KEY`, else `signing_key` in the user
    /// config).
    pub signing_key: Option<PathBuf>,
    /// `[executor]`: where `augflow run` executes nodes, and the Slurm settings.
    pub executor: ExecutorConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("read project config {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse project config {path}: {message}")]
    ParseConfig { path: PathBuf, message: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    remote: RemoteSection,
    #[serde(default)]
    remotes: BTreeMap<String, RemoteConfig>,
    #[serde(default)]
    executor: ExecutorConfig,
}

/// Where nodes that miss the cache execute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    /// On this machine, `-j` at a time.
    #[default]
    Local,
    /// As Slurm batch jobs (`sbatch`), one per node, ordered by `afterok` dependencies.
    Slurm,
}

/// `[executor]` in `augflow.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// The executor of `augflow run` without `--executor`.
    #[serde(default)]
    pub default: ExecutorKind,
    #[serde(default)]
    pub slurm: SlurmConfig,
}

/// `[executor.slurm]`: how nodes are submitted (see docs/slurm.md).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--partition` of every job.
    pub partition: Option<String>,
    /// `--account` of every job.
    pub account: Option<String>,
    /// Further `sbatch` arguments for every job (e.g. `--qos=short`).
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Seconds between two `squeue` polls (default 2).
    pub poll_seconds: Option<f64>,
    /// Most jobs of one run queued or running at once (default 500); further nodes are
    /// submitted as earlier jobs end, so a large grid stays under the cluster's
    /// `MaxSubmitJobs`.
    pub max_queued: Option<std::num::NonZeroUsize>,
    /// Most tasks in one job array (default 1000). Ready nodes of one matrix stage that
    /// wait on the same jobs and need the same resources are submitted as one array, one
    /// `sbatch` call; 1 submits every node as a job of its own (for clusters without
    /// arrays, `MaxArraySize = 0`).
    pub array_size: Option<std::num::NonZeroUsize>,
    /// The `augflow` binary jobs run (default: this one); it must be reachable from the
    /// compute nodes. Relative paths start at the config file.
    pub augflow_bin: Option<PathBuf>,
    /// Resources per stage kind (`cmd` for shell stages, else the typed kind's name), over
    /// the `default` entry.
    #[serde(default)]
    pub resources: BTreeMap<String, SlurmResources>,
}

/// Resources of one job; unset fields leave the cluster's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmResources {
    /// `--time`, e.g. `"02:00:00"`.
    pub time: Option<String>,
    /// `--mem`, e.g. `"16G"`.
    pub mem: Option<String>,
    /// `--gres`, e.g. `"gpu:1"`.
    pub gres: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// Further `sbatch` arguments for this kind.
    #[serde(default)]
    pub extra: Vec<String>,
}

/// The resource entry that applies to all kinds.
pub const DEFAULT_RESOURCES: &str = "default";

impl SlurmConfig {
    /// The `default` entry overlaid with the entry of `kind`.
    pub fn resources_for(&self, kind: &str) -> SlurmResources {
        let mut merged = self
            .resources
            .get(DEFAULT_RESOURCES)
            .cloned()
            .unwrap_or_default();
        if let Some(own) = self.resources.get(kind) {
            merged.time = own.time.clone().or(merged.time);
            merged.mem = own.mem.clone().or(merged.mem);
            merged.gres = own.gres.clone().or(merged.gres);
            merged.cpus_per_task = own.cpus_per_task.or(merged.cpus_per_task);
            merged.extra.extend(own.extra.iter().cloned());
        }
        merged
    }
}

/// Who declared a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteOrigin {
    /// `augflow.toml` in the project: anyone who can change the branch chose it.
    Project,
    /// The user's own config (or the command line).
    User,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteSection {
    /// Remote used by `run`, `push` and `pull` when `--remote` is not given.
    default: Option<String>,
}

/// When a run uploads what it executed. Manual by default: as Bazel recommends, only the
/// machines meant to (CI) write the shared cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushMode {
    /// After each executed node.
    Auto,
    /// Only with `augflow push`.
    #[default]
    Manual,
}

/// `shared = "group"`: a folder remote used by several Unix users of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharedMode {
    /// Modes as the user's umask makes them.
    #[default]
    User,
    /// Files group-readable, folders group-writable (setgid), whoever writes them.
    Group,
}

/// A remote cache as declared in `augflow.toml`. Credentials never live here: S3 reads them
/// from the environment or the usual credential chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RemoteConfig {
    /// A shared folder (NFS, SMB, a mounted bucket…). Relative paths start at the config file.
    Dir {
        path: PathBuf,
        #[serde(default)]
        push: PushMode,
        #[serde(default)]
        shared: SharedMode,
        /// Longest time one object may take to read or write (default 300).
        #[serde(default)]
        timeout_seconds: Option<u64>,
        /// Trusted writers' ed25519 public keys (64 hex digits) by name: signed mode.
        #[serde(default)]
        writers: BTreeMap<String, String>,
    },
    /// S3 or an S3-compatible service (MinIO, Ceph, R2, GCS's S3 API).
    S3 {
        bucket: String,
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default)]
        region: Option<String>,
        #[serde(default)]
        push: PushMode,
        /// Plain http to an endpoint other than this machine must be asked for.
        #[serde(default)]
        allow_http: bool,
        #[serde(default)]
        writers: BTreeMap<String, String>,
    },
}

impl RemoteConfig {
    pub fn push(&self) -> PushMode {
        match self {
            RemoteConfig::Dir { push, .. } | RemoteConfig::S3 { push, .. } => *push,
        }
    }

    /// Trusted writers by name (empty: unsigned mode).
    pub fn writers(&self) -> &BTreeMap<String, String> {
        match self {
            RemoteConfig::Dir { writers, .. } | RemoteConfig::S3 { writers, .. } => writers,
        }
    }

    fn make_paths_absolute(&mut self, base: &Path) {
        if let RemoteConfig::Dir { path, .. } = self {
            *path = absolute_from(base, path);
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    /// Relative paths are relative to the config file; `~/…` is the user's home, so
    /// several projects can share one store (`path = "~/.cache/augflow"`).
    path: Option<PathBuf>,
    /// `"group"`: folders group-writable, metadata group-writable, whoever writes them.
    #[serde(default)]
    shared: SharedMode,
}

impl Project {
    /// Opens (creating if needed) the project's store, shared by a group if so configured.
    pub fn open_store(&self) -> Result<augflow_cache::Store, augflow_cache::CacheError> {
        match self.store_shared {
            SharedMode::User => augflow_cache::Store::open(&self.store_dir),
            SharedMode::Group => augflow_cache::Store::open_group_shared(&self.store_dir),
        }
    }

    /// `store_flag` is `--store` or `AUGFLOW_STORE` (clap reads both); it wins over the file.
    pub fn open(root: &Path, store_flag: Option<&Path>) -> Result<Project, ProjectError> {
        let state_dir = root.join(".augflow");
        let config = read_config(root)?;
        let store_dir = match (store_flag, &config.store.path) {
            (Some(path), _) => absolute_from(&std::env::current_dir().unwrap_or_default(), path),
            (None, Some(path)) => absolute_from(root, &crate::fsutil::expand_home(path)),
            (None, None) => state_dir.join("store"),
        };
        let user = user::load_user_config()?;
        let mut remotes = BTreeMap::new();
        let mut remote_origins = BTreeMap::new();
        for (name, mut remote) in config.remotes {
            remote.make_paths_absolute(root);
            remotes.insert(name.clone(), remote);
            remote_origins.insert(name, RemoteOrigin::Project);
        }
        // The user's own declaration of a name wins over the project's.
        for (name, remote) in user.remotes {
            remotes.insert(name.clone(), remote);
            remote_origins.insert(name, RemoteOrigin::User);
        }
        let default_remote = config.remote.default.or(user.remote.default);
        if let Some(default) = &default_remote
            && !BTreeMap::contains_key(&remotes, default)
        {
            return Err(ProjectError::ParseConfig {
                path: root.join(CONFIG_FILE),
                message: format!("default remote `{default}` is not declared in [remotes]"),
            });
        }
        let signing_key = std::env::var_os(SIGNING_KEY_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or(user.signing_key);
        let mut executor = config.executor;
        if let Some(bin) = &executor.slurm.augflow_bin {
            executor.slurm.augflow_bin = Some(absolute_from(root, bin));
        }
        Ok(Project {
            root: root.to_path_buf(),
            state_dir,
            store_dir,
            store_shared: config.store.shared,
            remotes,
            remote_origins,
            default_remote,
            signing_key,
            executor,
        })
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.state_dir.join("tmp")
    }

    pub fn node_records_dir(&self) -> PathBuf {
        self.state_dir.join("state").join("nodes")
    }

    /// Slurm jobs of unfinished nodes, job logs and job results.
    pub fn slurm_dir(&self) -> PathBuf {
        self.state_dir.join("slurm")
    }

    pub fn stat_cache_path(&self) -> PathBuf {
        self.state_dir.join("stat-cache.json")
    }
}

/// `path` made absolute against `base` (itself made absolute against the current folder),
/// so that the same folder is spelled the same way whether the pipeline was named as
/// `augflow.yaml` (an empty base) or `./augflow.yaml`: trust records compare these.
fn absolute_from(base: &Path, path: &Path) -> PathBuf {
    let joined = base.join(path);
    std::path::absolute(&joined).unwrap_or(joined)
}

fn read_config(root: &Path) -> Result<ConfigFile, ProjectError> {
    let path = root.join(CONFIG_FILE);
    let Some(text) = user::read_small(&path)? else {
        return Ok(ConfigFile::default());
    };
    toml::from_str(&text).map_err(|err| ProjectError::ParseConfig {
        path,
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_comes_from_flag_then_config_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::open(dir.path(), None).unwrap();
        assert_eq!(project.store_dir, dir.path().join(".augflow/store"));
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[store]\npath = \"../shared-store\"\n",
        )
        .unwrap();
        let project = Project::open(dir.path(), None).unwrap();
        assert_eq!(project.store_dir, dir.path().join("../shared-store"));
        let project = Project::open(dir.path(), Some(Path::new("/srv/store"))).unwrap();
        assert_eq!(project.store_dir, PathBuf::from("/srv/store"));
        std::fs::write(dir.path().join(CONFIG_FILE), "[store]\npth = 1\n").unwrap();
        assert!(matches!(
            Project::open(dir.path(), None),
            Err(ProjectError::ParseConfig { .. })
        ));
    }

    #[test]
    fn slurm_resources_overlay_the_default_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            r#"
[executor]
default = "slurm"
[executor.slurm]
partition = "gpu"
augflow_bin = "bin/augflow"
[executor.slurm.resources.default]
time = "01:00:00"
mem = "4G"
extra = ["--qos=short"]
[executor.slurm.resources.classify]
gres = "gpu:1"
mem = "32G"
extra = ["--constraint=a100"]
"#,
        )
        .unwrap();
        let project = Project::open(dir.path(), None).unwrap();
        assert_eq!(project.executor.default, ExecutorKind::Slurm);
        let slurm = &project.executor.slurm;
        assert_eq!(slurm.partition.as_deref(), Some("gpu"));
        assert_eq!(slurm.augflow_bin, Some(dir.path().join("bin/augflow")));
        let classify = slurm.resources_for("classify");
        assert_eq!(classify.time.as_deref(), Some("01:00:00"));
        assert_eq!(classify.mem.as_deref(), Some("32G"));
        assert_eq!(classify.gres.as_deref(), Some("gpu:1"));
        assert_eq!(classify.extra, ["--qos=short", "--constraint=a100"]);
        let shell = slurm.resources_for("cmd");
        assert_eq!(shell.gres, None);
        assert_eq!(shell.mem.as_deref(), Some("4G"));

        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[executor.slurm.resources.cmd]
gpus = 1
",
        )
        .unwrap();
        assert!(matches!(
            Project::open(dir.path(), None),
            Err(ProjectError::ParseConfig { .. })
        ));
    }
}
