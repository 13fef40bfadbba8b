//! A cache teammates can trust: a broken entry costs a recompute, never a node that fails
//! forever; limits on what a pipeline may expand to; a store never adopts or cleans a
//! folder it did not create; `${x:q}` and `env:` for shell commands.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use augflow_cache::{ActionEntry, Artifact, Store, TreeEntry};

use crate::common::{TestProject, files_under, names, output_within};

/// The only action entry in `store`.
fn only_entry(store: &Path) -> std::path::PathBuf {
    let entries: Vec<_> = files_under(&store.join("ac"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

#[test]
fn an_entry_that_cannot_be_restored_is_a_miss_not_a_failure() {
    let project = TestProject::new(
        "stages:\n  tree:\n    cmd: \"mkdir -p out && echo x > out/a\"\n    outs: [out]\n",
    );
    project.run(&[]).assert_ok();

    // Rewrite the entry so its manifest holds both the file `a` and `a/b`: it can never be
    // materialised (as an entry from a broken or hostile remote might be).
    let entry_path = only_entry(&project.store());
    let mut entry: ActionEntry =
        serde_json::from_slice(&std::fs::read(&entry_path).expect("read entry")).expect("parse");
    let store = Store::open(&project.store()).expect("open store");
    let Some(Artifact::Dir { manifest, .. }) = entry.outputs.get("out") else {
        panic!("expected a folder output: {entry:?}");
    };
    let mut tree = store.read_manifest(manifest).expect("manifest");
    let file: TreeEntry = tree.entries["a"].clone();
    tree.entries.insert("a/b".to_owned(), file);
    store
        .put_bytes(&tree.to_canonical_bytes())
        .expect("store manifest");
    entry.outputs.insert("out".to_owned(), Artifact::dir(&tree));
    std::fs::write(&entry_path, serde_json::to_vec(&entry).expect("json")).expect("write");
    std::fs::remove_dir_all(project.path("out")).expect("remove out");

    project
        .run(&[])
        .assert_ok()
        .assert_executed(&["tree"])
        .assert_warned("could not restore `tree`");
    assert_eq!(project.read("out/a"), "x\n");

    let again = project.run(&[]);
    again.assert_ok();
    assert_eq!(again.with_status("cached"), names(&["tree"]));
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
}

#[test]
fn a_ten_axis_matrix_is_refused_promptly() {
    let axes: String = (0..10)
        .map(|i| format!("      a{i}: [0,1,2,3,4,5,6,7,8,9]\n"))
        .collect();
    let pipeline = format!("stages:\n  grid:\n    matrix:\n{axes}    cmd: \"true\"\n");
    assert!(pipeline.len() < 400, "{} bytes", pipeline.len());
    let project = TestProject::new(&pipeline);
    let child = project
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn augflow");
    // A liveness guard, not a timing assertion: without the limit this allocates 10^10
    // nodes and either aborts or runs for a very long time.
    let output = output_within(
        child,
        Duration::from_secs(60),
        "augflow did not refuse the matrix",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("shrink the matrix of stage `grid`")
            && stderr.contains("more than 100000 nodes"),
        "{stderr}"
    );
    assert!(stderr.contains("augflow.yaml:4:"), "{stderr}");
}

#[test]
fn a_folder_with_other_files_is_never_adopted_as_a_store() {
    let project =
        TestProject::new("stages:\n  a:\n    cmd: \"echo a > a.txt\"\n    outs: [a.txt]\n");
    let full = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(full.path().join("tmp")).expect("mkdir");
    std::fs::write(full.path().join("tmp/draft.txt"), "mine").expect("write");
    std::fs::write(full.path().join("notes.txt"), "mine too").expect("write");
    let store = full.path().to_string_lossy().into_owned();

    let output = project.augflow(&["--store", &store, "run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no FORMAT file"), "{stderr}");
    assert!(!project.path("a.txt").exists());
    assert!(!full.path().join("objects").exists());
    assert_eq!(
        std::fs::read_to_string(full.path().join("tmp/draft.txt")).expect("kept"),
        "mine"
    );
}

#[test]
fn gc_deletes_only_names_it_creates() {
    let project =
        TestProject::new("stages:\n  a:\n    cmd: \"echo a > a.txt\"\n    outs: [a.txt]\n");
    project.run(&[]).assert_ok();
    let old = SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
    let plant = |rel: &str| {
        let path = project.store().join(rel);
        std::fs::write(&path, "someone else's").expect("write");
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_modified(old).expect("age");
        path
    };
    let foreign = [plant("tmp/foreign.txt"), plant("quarantine/README")];
    let ours = plant("tmp/.augflow-tmp-dead");

    let output = project.augflow(&["gc", "--grace", "0"]);
    assert!(output.status.success(), "{output:?}");
    for path in &foreign {
        assert!(path.exists(), "gc deleted {}", path.display());
    }
    assert!(!ours.exists(), "gc kept its own stale temp file");
}

#[test]
fn quoted_params_reach_the_command_intact() {
    let project = TestProject::new(
        r#"
params:
  msg: "it's a $HOME; `touch hacked`"
stages:
  say:
    cmd: "printf %s ${msg:q} > said.txt"
    outs: [said.txt]
"#,
    );
    project.run(&[]).assert_ok();
    assert_eq!(project.read("said.txt"), "it's a $HOME; `touch hacked`");
    assert!(!project.path("hacked").exists());
}

#[test]
fn declared_environment_variables_enter_the_key() {
    let mut project = TestProject::new(
        "stages:\n  greet:\n    cmd: \"echo $GREETING > g.txt\"\n    env: [GREETING]\n    outs: [g.txt]\n",
    );
    project.env = vec![("GREETING".to_owned(), "hello".to_owned())];
    assert_eq!(project.run(&[]).assert_ok().executed(), names(&["greet"]));
    assert_eq!(project.run(&[]).assert_ok().executed(), names(&[]));
    project.env = vec![("GREETING".to_owned(), "bonjour".to_owned())];
    assert_eq!(project.run(&[]).assert_ok().executed(), names(&["greet"]));
    assert_eq!(project.read("g.txt"), "bonjour\n");
    // Unset is a value too.
    project.env.clear();
    let mut command = project.command(&["run", "--json"]);
    command.env_remove("GREETING");
    let unset = crate::common::parse_run(&command.output().expect("run"));
    assert_eq!(unset.assert_ok().executed(), names(&["greet"]));
}
