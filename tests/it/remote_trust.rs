//! Issue 17 on the real binary: remotes are the user's choice, hostile remote objects cannot
//! hang or flood a run, signed remotes ignore writers nobody trusts, and what an entry says
//! about itself is shown escaped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{
    RunResult, TestProject, assert_mentions, failed, output_within, parse_run, stdout,
};
use crate::remote::{TEAM_NODES, dir_remote_toml, team_pipeline, teammate_with_env};

/// How long a run against a hostile remote may take: the pipeline itself takes seconds; a
/// hang or an endless download would take forever.
const BOUND: Duration = Duration::from_secs(120);

/// Runs `augflow run --json` and kills it if it outlives [`BOUND`].
fn run_bounded(project: &TestProject) -> (RunResult, Duration) {
    let started = Instant::now();
    let child = project
        .command(&["run", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn augflow");
    let output = output_within(child, BOUND, "augflow run hung on a hostile remote");
    (parse_run(&output), started.elapsed())
}

/// The remote entry file of the node whose output is `out` (found by content).
fn entry_file(remote: &Path, out: &str) -> PathBuf {
    let needle = format!("\"{out}\"");
    let shards = std::fs::read_dir(remote.join("ac")).expect("remote ac/");
    shards
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "json")
                && std::fs::read_to_string(p).is_ok_and(|t| t.contains(&needle))
        })
        .unwrap_or_else(|| panic!("no remote entry names {out}"))
}

fn blob_file(remote: &Path, content: &str) -> PathBuf {
    let hex = blake3::hash(content.as_bytes()).to_hex().to_string();
    remote.join("objects").join(&hex[..2]).join(&hex[2..])
}

#[test]
fn a_fifo_or_dev_zero_on_the_remote_is_refused_and_the_run_completes() {
    let team = tempfile::tempdir().unwrap();
    let cache = team.path().join("cache");
    let toml = dir_remote_toml(&cache);
    teammate_with_env(&toml, &[]).run(&[]).assert_ok();

    // prep's blob becomes an endless stream.
    let blob = blob_file(&cache, "prep 1\n");
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &blob).unwrap();
    let b = teammate_with_env(&toml, &[]);
    let (result, took) = run_bounded(&b);
    result.assert_ok();
    assert!(result.executed().contains(&"prep".to_owned()), "{result:?}");
    assert!(
        result.stderr.contains("not a regular file"),
        "{}",
        result.stderr
    );
    assert_eq!(b.read("prep.txt"), "prep 1\n");
    assert!(took < BOUND);

    // train's entry becomes a FIFO nobody writes to.
    let entry = entry_file(&cache, "train.txt");
    std::fs::remove_file(&entry).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&entry)
        .status()
        .unwrap();
    assert!(status.success());
    let c = teammate_with_env(&toml, &[]);
    let (result, _) = run_bounded(&c);
    result.assert_ok();
    assert!(
        result.executed().contains(&"train".to_owned()),
        "{result:?}"
    );
    let said = format!("{}{:?}", result.stderr, result.warnings);
    assert!(said.contains("not a regular file"), "{said}");
    crate::common::assert_store_blobs_valid(&c.store());
}

/// A teammate whose user config folder is `config` and who has trusted nothing.
fn untrusting(toml: &str, config: &Path) -> TestProject {
    let mut project = TestProject::new(&team_pipeline());
    project.write("augflow.toml", toml);
    project
        .env
        .push(("AUGFLOW_CONFIG_DIR".into(), config.display().to_string()));
    project
}

#[test]
fn a_project_remote_is_used_only_once_trusted_as_defined() {
    let team = tempfile::tempdir().unwrap();
    let cache = team.path().join("cache");
    let config = team.path().join("user-config");
    let project = untrusting(&dir_remote_toml(&cache), &config);

    project
        .run(&[])
        .assert_ok()
        .assert_warned("augflow remote trust team");
    assert!(!cache.exists(), "an untrusted remote was written");
    assert_mentions(&failed(&project, &["pull"], 3), &["not trusted"]);

    stdout(&project, &["remote", "trust", "team"]);
    assert!(config.join("trusted-remotes.json").is_file());
    stdout(&project, &["push"]);
    assert!(cache.join("ac").is_dir());

    // A branch points the same name elsewhere: untrusted again.
    let other = team.path().join("elsewhere");
    project.write("augflow.toml", &dir_remote_toml(&other));
    project.run(&[]).assert_ok().assert_warned("not trusted");
    assert!(!other.exists());

    // Declared in the user's own config, a remote needs no trusting.
    std::fs::write(
        config.join("config.toml"),
        format!(
            "[remotes.mine]\ntype = \"dir\"\npath = \"{}\"\n",
            cache.display()
        ),
    )
    .unwrap();
    let fresh = untrusting("", &config);
    let pulled = parse_run(&fresh.augflow(&["pull", "--json", "--remote", "mine"]));
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    pulled.assert_status("restored", TEAM_NODES);
}

#[test]
fn a_dir_remote_inside_the_working_tree_is_refused() {
    let project = teammate_with_env(
        "[remote]\ndefault = \"team\"\n[remotes.team]\ntype = \"dir\"\npath = \"shared-cache\"\npush = \"auto\"\n",
        &[],
    );
    project
        .run(&[])
        .assert_ok()
        .assert_warned("inside the working tree");
    assert!(!project.path("shared-cache").exists());
}

#[test]
fn plain_http_to_another_machine_needs_allow_http() {
    // 192.0.2.0/24 is TEST-NET-1: never routed, so a request would time out, not answer.
    let toml = "[remote]\ndefault = \"team\"\n[remotes.team]\ntype = \"s3\"\nbucket = \"b\"\nendpoint = \"http://192.0.2.1:9000\"\n";
    let project = teammate_with_env(toml, &[]);
    let started = Instant::now();
    assert_mentions(&failed(&project, &["pull"], 3), &["allow_http = true"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a request was made"
    );
}

fn keygen(project: &TestProject, name: &str) -> (PathBuf, String) {
    let file = project.path(&format!("{name}.key"));
    let said = stdout(project, &["remote", "keygen", &file.display().to_string()]);
    let public = said
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .expect("public key line")
        .to_owned();
    (file, public)
}

/// The two-teammate scenario in signed mode: Mallory can write the folder but is not a
/// trusted writer; her entries are ignored, Bob's replace them, Alice restores Bob's and
/// `show` names him.
#[test]
fn signed_teammates_ignore_an_untrusted_writer() {
    let team = tempfile::tempdir().unwrap();
    let cache = team.path().join("cache");
    let keys = TestProject::new(&team_pipeline());
    let (alice_key, alice_pub) = keygen(&keys, "alice");
    let (bob_key, bob_pub) = keygen(&keys, "bob");
    let (mallory_key, _) = keygen(&keys, "mallory");
    let toml = format!(
        "{}[remotes.team.writers]\nalice = \"{alice_pub}\"\nbob = \"{bob_pub}\"\n",
        dir_remote_toml(&cache)
    );
    let with_key = |key: &Path| {
        teammate_with_env(
            &toml,
            &[("AUGFLOW_SIGNING_KEY", &key.display().to_string())],
        )
    };

    let mallory = with_key(&mallory_key);
    mallory.run(&[]).assert_ok();
    let entry = entry_file(&cache, "prep.txt");
    assert!(entry.with_extension("sig").is_file());

    let bob = with_key(&bob_key);
    // Mallory's entries are ignored.
    let result = bob.run(&[]);
    result.assert_ok().assert_executed(TEAM_NODES);
    assert_mentions(&result.stderr, &["no valid signature by a trusted writer"]);

    let alice = with_key(&alice_key);
    alice
        .run(&[])
        .assert_ok()
        .assert_status("restored", TEAM_NODES);
    let show = alice.augflow(&["show", "prep"]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.contains(&format!("signed by: bob (ed25519 {bob_pub}")),
        "{shown}"
    );
}

#[test]
fn show_escapes_control_characters_in_self_reported_fields() {
    let project = TestProject::new(&team_pipeline());
    let mut evil = project;
    evil.env
        .push(("USER".into(), "eve\u{1b}]0;owned\u{7}".into()));
    evil.run(&["--target", "prep"]).assert_ok();
    let show = evil.augflow(&["show", "prep"]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    assert!(shown.contains("eve\\u{1b}]0;owned\\u{7}"), "{shown}");
    assert!(shown.contains("signed by: nobody verified"), "{shown}");
}
