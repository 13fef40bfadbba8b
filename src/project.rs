//! Where a project's state lives: `.augflow/` beside the pipeline file, and the store
//! (by default `.augflow/store`, else from `--store`, `AUGFLOW_STORE` or `augflow.toml`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// Remote caches declared in `augflow.toml`, by name.
    pub remotes: BTreeMap<String, RemoteConfig>,
    pub default_remote: Option<String>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteSection {
    /// Remote used by `run`, `push` and `pull` when `--remote` is not given.
    default: Option<String>,
}

/// When a run uploads what it executed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushMode {
    /// After each executed node.
    #[default]
    Auto,
    /// Only with `augflow push`.
    Manual,
}

/// A remote cache as declared in `augflow.toml`. Credentials never live here: S3 reads them
/// from the environment or the usual credential chain.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RemoteConfig {
    /// A shared folder (NFS, SMB, a mounted bucket…). Relative paths start at the config file.
    Dir {
        path: PathBuf,
        #[serde(default)]
        push: PushMode,
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
    },
}

impl RemoteConfig {
    pub fn push(&self) -> PushMode {
        match self {
            RemoteConfig::Dir { push, .. } | RemoteConfig::S3 { push, .. } => *push,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    /// Relative paths are relative to the config file.
    path: Option<PathBuf>,
}

impl Project {
    /// `store_flag` is `--store` or `AUGFLOW_STORE` (clap reads both); it wins over the file.
    pub fn open(root: &Path, store_flag: Option<&Path>) -> Result<Project, ProjectError> {
        let state_dir = root.join(".augflow");
        let config = read_config(root)?;
        let store_dir = match (store_flag, &config.store.path) {
            (Some(path), _) => absolute_from(&std::env::current_dir().unwrap_or_default(), path),
            (None, Some(path)) => absolute_from(root, path),
            (None, None) => state_dir.join("store"),
        };
        let remotes = config
            .remotes
            .into_iter()
            .map(|(name, remote)| {
                let remote = match remote {
                    RemoteConfig::Dir { path, push } => RemoteConfig::Dir {
                        path: absolute_from(root, &path),
                        push,
                    },
                    other => other,
                };
                (name, remote)
            })
            .collect();
        if let Some(default) = &config.remote.default
            && !BTreeMap::contains_key(&remotes, default)
        {
            return Err(ProjectError::ParseConfig {
                path: root.join(CONFIG_FILE),
                message: format!("default remote `{default}` is not declared in [remotes]"),
            });
        }
        let mut executor = config.executor;
        if let Some(bin) = &executor.slurm.augflow_bin {
            executor.slurm.augflow_bin = Some(absolute_from(root, bin));
        }
        Ok(Project {
            root: root.to_path_buf(),
            state_dir,
            store_dir,
            remotes,
            default_remote: config.remote.default,
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

fn absolute_from(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn read_config(root: &Path) -> Result<ConfigFile, ProjectError> {
    let path = root.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(source) => return Err(ProjectError::ReadConfig { path, source }),
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
