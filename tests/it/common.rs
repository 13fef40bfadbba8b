//! A throwaway project folder with a pipeline, and helpers that run the real `augflow`
//! binary and read back which nodes executed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

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

    /// Fails unless exactly `nodes` executed (in any order).
    #[track_caller]
    pub fn assert_executed(&self, nodes: &[&str]) -> &Self {
        assert_eq!(self.executed(), names(nodes), "{:#?}", self.statuses);
        self
    }

    /// Fails unless exactly `nodes` finished with `status` (in any order).
    #[track_caller]
    pub fn assert_status(&self, status: &str, nodes: &[&str]) -> &Self {
        assert_eq!(
            self.with_status(status),
            names(nodes),
            "{status}: {:#?}",
            self.statuses
        );
        self
    }

    /// Fails unless some warning event mentions `needle`.
    #[track_caller]
    pub fn assert_warned(&self, needle: &str) -> &Self {
        assert!(
            self.warnings.iter().any(|w| w.contains(needle)),
            "no warning mentions {needle:?}: {:?}",
            self.warnings
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

/// The loss series a generator's training recorded on its fixed evaluation batch (named
/// `… eval`), from its `generator.json`.
pub fn eval_losses(generator: &serde_json::Value) -> Vec<&serde_json::Value> {
    generator["losses"]
        .as_array()
        .unwrap_or_else(|| panic!("no losses in {generator}"))
        .iter()
        .filter(|s| s[0].as_str().is_some_and(|n| n.ends_with(" eval")))
        .collect()
}

/// Editing only `lora_rank` in a diffusion example pipeline reruns the LoRA branch (the
/// adapter, its samples and their scores) and nothing else.
#[track_caller]
pub fn assert_a_new_lora_rank_reruns_only_the_lora_branch(project: &TestProject) {
    project.edit_pipeline("lora_rank: 4", "lora_rank: 2");
    project
        .run(&["--backend", "cpu", "-j", "2"])
        .assert_ok()
        .assert_executed(&["lora", "sample@lora", "quality@lora"]);
}

/// The start of a pipeline text: `stages:` and a `data` stage of phantom 32-pixel chest
/// films with `classes` (flow-mapping entries such as `healthy: 2, viral: 3`); the caller
/// appends its other stages.
pub fn phantom_data(classes: &str) -> String {
    format!(
        "stages:\n  data:\n    kind: dataset.phantom\n    params: {{size: 32, classes: {{{classes}}}}}\n"
    )
}

/// The start of a small typed pipeline: `seed`, [`phantom_data`] and `summary`, the
/// summary of its images; the caller appends its other stages.
pub fn phantom_and_summary(seed: u64, classes: &str) -> String {
    format!(
        "seed: {seed}\n{}  summary:\n    kind: summary.image_set\n    inputs: {{images: data.images}}\n",
        phantom_data(classes)
    )
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

    pub fn json(&self, rel: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Rewrites the pipeline with one textual replacement (which must match).
    pub fn edit_pipeline(&self, from: &str, to: &str) {
        let text = self.read("augflow.yaml");
        assert!(text.contains(from), "pipeline does not contain {from:?}");
        self.write("augflow.yaml", &text.replacen(from, to, 1));
    }

    /// Applies each `(from, to)` of `edits` with [`TestProject::edit_pipeline`], in order.
    pub fn edit_pipeline_all(&self, edits: &[(&str, &str)]) {
        for (from, to) in edits {
            self.edit_pipeline(from, to);
        }
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

/// Runs `command`, which must succeed: its output.
#[track_caller]
pub fn succeed(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `augflow args` in `project`, which must succeed: its stdout.
#[track_caller]
pub fn stdout(project: &TestProject, args: &[&str]) -> String {
    String::from_utf8(succeed(&mut project.command(args)).stdout).expect("utf-8")
}

/// The outputs (with their digests) of `node`'s entry, as `augflow show node --json`
/// gives them: equal for two runs exactly when their outputs are byte-identical.
pub fn output_digests(project: &TestProject, node: &str) -> String {
    let shown: serde_json::Value =
        serde_json::from_str(&stdout(project, &["show", node, "--json"])).expect("show JSON");
    shown["entry"]["outputs"].to_string()
}

/// `augflow schema`: the pipeline format's JSON Schema.
pub fn schema() -> serde_json::Value {
    let output = succeed(Command::new(env!("CARGO_BIN_EXE_augflow")).arg("schema"));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// The example pipelines: every `.yaml` file in `pipelines/`, sorted. Fails unless there
/// are at least `at_least`, so that a moved folder cannot make a test pass vacuously.
#[track_caller]
pub fn example_pipelines(at_least: usize) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("pipelines/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    found.sort();
    assert!(
        found.len() >= at_least,
        "expected {at_least} example pipelines or more in {}",
        dir.display()
    );
    found
}

/// `augflow args` in `project`, which must exit with `code`: its stderr.
#[track_caller]
pub fn failed(project: &TestProject, args: &[&str], code: i32) -> String {
    let output = project.augflow(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "augflow {args:?}: {stderr}"
    );
    stderr
}

/// Runs `augflow run` on a pipeline text that must be refused before anything runs (exit
/// code 2, no panic, no store): its stderr.
#[track_caller]
pub fn rejected(pipeline: &str) -> String {
    let project = TestProject::new(pipeline);
    let stderr = failed(&project, &["run"], 2);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!project.store().exists(), "nothing may run: {stderr}");
    stderr
}

/// Waits for `child` (spawned with piped or null output) and returns its output; kills it
/// and fails, showing what it printed, if it outlives `limit`, so that a hang fails the
/// test instead of stalling the suite.
#[track_caller]
pub fn output_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("poll augflow").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("augflow output");
            panic!(
                "{what}: still running after {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("augflow output")
}

/// Polls `done` until it holds; fails if that takes longer than `limit`.
#[track_caller]
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails unless `stderr` mentions every one of `needles`.
#[track_caller]
pub fn assert_mentions(stderr: &str, needles: &[&str]) {
    for needle in needles {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}
