//! A throwaway project folder with a pipeline, and helpers that run the real `augflow`
//! binary and read back which nodes executed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct TestProject {
    pub dir: tempfile::TempDir,
    /// Extra environment for every command (e.g. S3 credentials).
    pub env: Vec<(String, String)>,
}

/// The outcome of one `augflow run --json`.
#[derive(Debug)]
pub struct RunResult {
    pub code: i32,
    pub statuses: BTreeMap<String, String>,
    pub warnings: Vec<String>,
    pub stderr: String,
}

impl RunResult {
    pub fn with_status(&self, status: &str) -> Vec<String> {
        self.statuses
            .iter()
            .filter(|(_, s)| s.as_str() == status)
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn executed(&self) -> Vec<String> {
        self.with_status("executed")
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "run failed:\n{}\n{:#?}",
            self.stderr, self.statuses
        );
        self
    }
}

pub fn names(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// The adaptations the diffusion example pipelines train, each sampled (`sample@…`) and
/// scored (`quality@…`).
pub const ADAPTATIONS: [&str; 3] = ["finetune", "lora", "dreambooth"];

/// The nodes of such a pipeline, as [`names`] gives them: `first`, then the
/// adaptations, their samples and their scores.
pub fn with_adaptations(first: &[&str]) -> Vec<String> {
    let samples = ADAPTATIONS.map(|g| format!("sample@{g}"));
    let quality = ADAPTATIONS.map(|g| format!("quality@{g}"));
    let mut all: Vec<&str> = first.iter().chain(&ADAPTATIONS).copied().collect();
    all.extend(samples.iter().chain(&quality).map(String::as_str));
    names(&all)
}

impl TestProject {
    pub fn new(pipeline: &str) -> TestProject {
        let project = TestProject {
            dir: tempfile::tempdir().expect("temp dir"),
            env: Vec::new(),
        };
        project.write("augflow.yaml", pipeline);
        project
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, content).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Rewrites the pipeline with one textual replacement (which must match).
    pub fn edit_pipeline(&self, from: &str, to: &str) {
        let text = self.read("augflow.yaml");
        assert!(text.contains(from), "pipeline does not contain {from:?}");
        self.write("augflow.yaml", &text.replacen(from, to, 1));
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_augflow"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("AUGFLOW_STORE")
            .env("AUGFLOW_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    pub fn augflow(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run augflow")
    }

    pub fn run(&self, extra: &[&str]) -> RunResult {
        let mut args = vec!["run", "--json"];
        args.extend_from_slice(extra);
        parse_run(&self.augflow(&args))
    }

    pub fn store(&self) -> PathBuf {
        self.path(".augflow/store")
    }
}

pub fn parse_run(output: &Output) -> RunResult {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut statuses = BTreeMap::new();
    let mut warnings = Vec::new();
    for line in stdout.lines() {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"));
        match event["event"].as_str() {
            Some("node_finished") => {
                let stage = event["stage"].as_str().expect("stage").to_owned();
                let status = event["status"].as_str().expect("status").to_owned();
                assert!(
                    statuses.insert(stage.clone(), status).is_none(),
                    "node {stage} finished twice"
                );
            }
            Some("warning") => warnings.push(event["message"].as_str().unwrap_or("").to_owned()),
            _ => {}
        }
    }
    RunResult {
        code: output.status.code().unwrap_or(-1),
        statuses,
        warnings,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every blob under `store/objects` hashes to its own name (no partial or corrupt blob).
pub fn assert_store_blobs_valid(store: &Path) {
    let objects = store.join("objects");
    let Ok(shards) = std::fs::read_dir(&objects) else {
        return;
    };
    for shard in shards {
        let shard = shard.expect("shard").path();
        for blob in std::fs::read_dir(&shard).expect("read shard") {
            let blob = blob.expect("blob").path();
            let name = format!(
                "{}{}",
                shard.file_name().unwrap().to_string_lossy(),
                blob.file_name().unwrap().to_string_lossy()
            );
            let bytes = std::fs::read(&blob).expect("read blob");
            assert_eq!(
                blake3::hash(&bytes).to_hex().as_str(),
                name,
                "blob {blob:?} is corrupt"
            );
        }
    }
}

/// The action-cache entry file for a key, if any.
pub fn action_entry_path(store: &Path, key: &str) -> PathBuf {
    store.join("ac").join(&key[..2]).join(format!("{key}.json"))
}

/// Every file (not folder) under `dir`, recursively, without following symlinks; symlinks
/// are listed too.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let entry = entry.expect("read dir entry");
        let path = entry.path();
        if entry.file_type().expect("file type").is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// `augflow args` in `project`, which must succeed: its stdout.
pub fn stdout(project: &TestProject, args: &[&str]) -> String {
    let output = project.augflow(args);
    assert!(
        output.status.success(),
        "augflow {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Fails unless `stderr` mentions every one of `needles`.
#[track_caller]
pub fn assert_mentions(stderr: &str, needles: &[&str]) {
    for needle in needles {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}
