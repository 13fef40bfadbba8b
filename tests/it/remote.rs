//! Teammates sharing results through a remote cache (a shared folder here; the S3 backend
//! runs the same scenario in `remote_s3`).

use std::path::Path;

use crate::common::{TestProject, names, phantom_and_summary};

/// Phantom data and its summary, `prep` (a shell stage with a param) and `train`, which
/// reads both.
pub fn team_pipeline() -> String {
    phantom_and_summary(5, "healthy: 3, viral: 2")
        + r#"  prep:
    cmd: "echo prep ${scale} > prep.txt"
    params: {scale: 1}
    outs: [prep.txt]
  train:
    cmd: "cat prep.txt .augflow/out/summary/metrics/metrics.json > train.txt"
    deps: [prep.txt, .augflow/out/summary/metrics]
    outs: [train.txt]
"#
}

/// Every node of [`team_pipeline`].
pub const TEAM_NODES: &[&str] = &["data", "summary", "prep", "train"];

pub fn teammate(remote_toml: &str) -> TestProject {
    teammate_with_env(remote_toml, &[])
}

/// A teammate whose user config (its own folder, as on their laptop) trusts the project's
/// remote `team` as `remote_toml` defines it.
pub fn teammate_with_env(remote_toml: &str, env: &[(&str, &str)]) -> TestProject {
    let mut project = TestProject::new(&team_pipeline());
    project.write("augflow.toml", remote_toml);
    project.env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let user_config = project.path(".user-config").display().to_string();
    project.env.push(("AUGFLOW_CONFIG_DIR".into(), user_config));
    if remote_toml.contains("[remotes.team]") {
        let trust = project.augflow(&["remote", "trust", "team"]);
        assert!(
            trust.status.success(),
            "{}",
            String::from_utf8_lossy(&trust.stderr)
        );
    }
    project
}

pub fn dir_remote_toml(path: &Path) -> String {
    format!(
        "[remote]\ndefault = \"team\"\n\n[remotes.team]\ntype = \"dir\"\npath = \"{}\"\npush = \"auto\"\n",
        path.display()
    )
}

/// The whole two-teammate scenario, for any remote.
pub fn teammates_share_results(toml: &str, env: &[(&str, &str)]) {
    let a = teammate_with_env(toml, env);
    let b = teammate_with_env(toml, env);
    a.run(&[]).assert_ok().assert_executed(TEAM_NODES);

    // B executes nothing: A's results are restored.
    b.run(&[])
        .assert_ok()
        .assert_executed(&[])
        .assert_status("restored", TEAM_NODES);
    for file in [
        "prep.txt",
        "train.txt",
        ".augflow/out/summary/metrics/metrics.json",
    ] {
        assert_eq!(a.read(file), b.read(file), "{file}");
    }
    let image = ".augflow/out/data/images/images.json";
    assert_eq!(a.read(image), b.read(image));

    b.edit_pipeline("params: {scale: 1}", "params: {scale: 2}");
    b.run(&[]).assert_ok().assert_executed(&["prep", "train"]);

    a.edit_pipeline("params: {scale: 1}", "params: {scale: 2}");
    let pull = a.augflow(&["pull", "--json", "-j", "3"]);
    let pulled = crate::common::parse_run(&pull);
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    pulled
        .assert_executed(&[])
        .assert_status("restored", &["prep", "train"]);
    assert_eq!(a.read("train.txt"), b.read("train.txt"));
    assert!(a.run(&[]).executed().is_empty());
}

#[test]
fn teammates_share_results_through_a_shared_folder() {
    let team = tempfile::tempdir().unwrap();
    teammates_share_results(&dir_remote_toml(&team.path().join("cache")), &[]);
}

#[test]
fn a_tampered_remote_blob_is_rejected_and_the_node_recomputed() {
    let team = tempfile::tempdir().unwrap();
    let toml = dir_remote_toml(&team.path().join("cache"));
    let a = teammate(&toml);
    a.run(&[]).assert_ok();
    let digest = blake3::hash(a.read("prep.txt").as_bytes())
        .to_hex()
        .to_string();
    let blob = team
        .path()
        .join("cache/objects")
        .join(&digest[..2])
        .join(&digest[2..]);
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    std::fs::write(&blob, "forged\n").unwrap();

    let b = teammate(&toml);
    b.run(&[])
        .assert_ok()
        .assert_executed(&["prep"])
        .assert_warned("does not match");
    assert_eq!(b.read("prep.txt"), "prep 1\n");
    crate::common::assert_store_blobs_valid(&b.store());
}

#[test]
fn an_unreachable_remote_is_a_warning_and_the_run_completes() {
    let blocker = tempfile::NamedTempFile::new().unwrap();
    // A folder below a regular file can never be created.
    let project = teammate(&dir_remote_toml(&blocker.path().join("cache")));
    project
        .run(&[])
        .assert_ok()
        .assert_executed(TEAM_NODES)
        .assert_warned("unavailable");
    let push = project.augflow(&["push"]);
    assert_eq!(
        push.status.code(),
        Some(3),
        "an explicit push to a dead remote fails"
    );
}

#[test]
fn manual_push_mode_uploads_only_on_push() {
    let team = tempfile::tempdir().unwrap();
    // Manual is the default: a laptop's run uploads nothing unless told to.
    let toml = dir_remote_toml(&team.path().join("cache")).replace("push = \"auto\"\n", "");
    let a = teammate(&toml);
    a.run(&[]).assert_ok();
    let b = teammate(&toml);
    assert_eq!(b.run(&["--target", "prep"]).executed(), names(&["prep"]));

    let c = teammate(&toml);
    let push = a.augflow(&["push"]);
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert!(String::from_utf8_lossy(&push.stdout).contains("pushed 4 node(s)"));
    assert_eq!(c.run(&[]).with_status("restored").len(), 4);
}
