//! One store shared by several projects on a machine: concurrent runs, and gc from one
//! project never deleting what another needs (DVC #7610), with or without `--max-size`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use crate::common::{TestProject, action_entry_path, files_under, names, parse_run};

fn sharing(store: &Path, pipeline: &str) -> TestProject {
    let project = TestProject::new(pipeline);
    project.write(
        "augflow.toml",
        &format!("[store]\npath = \"{}\"\n", store.display()),
    );
    project
}

/// Node → key, from the node records of the project's last run.
fn recorded_keys(project: &TestProject) -> BTreeMap<String, String> {
    let dir = project.path(".augflow/state/nodes");
    std::fs::read_dir(&dir)
        .expect("records")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let record: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
            let node = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            (node, record["key"].as_str().expect("key").to_owned())
        })
        .collect()
}

fn blob_bytes(store: &Path) -> u64 {
    files_under(&store.join("objects"))
        .iter()
        .map(|path| std::fs::metadata(path).expect("meta").len())
        .sum()
}

fn set_used(path: &PathBuf, ago: Duration) {
    let file = std::fs::File::open(path).expect("open entry");
    file.set_modified(SystemTime::now() - ago).expect("age");
}

const A: &str = "stages:\n  a:\n    cmd: \"head -c 3000 /dev/zero | tr '\\\\0' a > a.bin\"\n    outs: [a.bin]\n";
const B: &str = "stages:\n  b:\n    cmd: \"head -c 5000 /dev/zero | tr '\\\\0' b > b.bin\"\n    outs: [b.bin]\n";

#[test]
fn gc_from_one_project_keeps_what_the_other_needs() {
    let store = tempfile::tempdir().expect("temp dir");
    let a = sharing(store.path(), A);
    let b = sharing(store.path(), B);
    a.run(&[]).assert_ok();
    b.run(&[]).assert_ok();
    let b_key = recorded_keys(&b)["b"].clone();

    for extra in [&[][..], &["--max-size", "0"][..]] {
        let mut args = vec!["gc", "--grace", "0"];
        args.extend_from_slice(extra);
        let output = a.augflow(&args);
        assert!(output.status.success(), "{output:?}");
        assert!(
            action_entry_path(store.path(), &b_key).exists(),
            "gc {extra:?} from `a` deleted `b`'s entry"
        );
    }
    // `b` is whole: its output comes back from the store, nothing reruns.
    std::fs::remove_file(b.path("b.bin")).expect("remove");
    let rerun = b.run(&[]);
    rerun.assert_ok();
    assert_eq!(rerun.with_status("cached"), names(&["b"]));
    assert_eq!(b.read("b.bin"), "b".repeat(5000));
}

#[test]
fn max_size_evicts_the_least_recently_used_unneeded_entries_first() {
    let store = tempfile::tempdir().expect("temp dir");
    let project = sharing(
        store.path(),
        "stages:\n  s:\n    matrix: {n: [1, 2, 3]}\n    params: {v: 1}\n    cmd: \"head -c ${n}000 /dev/zero | tr '\\\\0' ${v} > s${n}.bin\"\n    outs: [\"s${n}.bin\"]\n",
    );
    project.run(&[]).assert_ok();
    let old = recorded_keys(&project);
    project.edit_pipeline("v: 1", "v: 2");
    project.run(&[]).assert_ok();
    // Old results: s@1 (1000 bytes) used an hour ago, s@2 (2000) a day ago, s@3 (3000)
    // ten minutes ago.
    for (node, ago) in [("s@1", 3600), ("s@2", 86_400), ("s@3", 600)] {
        set_used(
            &action_entry_path(store.path(), &old[node]),
            Duration::from_secs(ago),
        );
    }
    for blob in files_under(&store.path().join("objects")) {
        set_used(&blob, Duration::from_secs(86_400));
    }
    // Room for everything but 2500 bytes: s@2 (least recently used, 2000) and then s@1
    // (1000) must go; s@3 and every current result stay.
    let max = blob_bytes(store.path()) - 2500;
    let output = project.augflow(&["gc", "--grace", "5m", "--max-size", &max.to_string()]);
    assert!(output.status.success(), "{output:?}");
    let exists = |node: &str| action_entry_path(store.path(), &old[node]).exists();
    assert!(!exists("s@2") && !exists("s@1"), "least recently used kept");
    assert!(exists("s@3"), "more recently used evicted first");
    assert!(blob_bytes(store.path()) <= max);
    let now = project.run(&[]);
    now.assert_ok();
    assert_eq!(now.with_status("cached").len(), 3, "{:?}", now.statuses);

    // Within --grace nothing goes, whatever the size.
    project.edit_pipeline("v: 2", "v: 3");
    project.run(&[]).assert_ok();
    let output = project.augflow(&["gc", "--grace", "1h", "--max-size", "0"]);
    assert!(output.status.success(), "{output:?}");
    project.edit_pipeline("v: 3", "v: 2");
    assert_eq!(project.run(&[]).assert_ok().executed(), names(&[]));
}

#[test]
fn concurrent_runs_from_two_projects_build_a_shared_key_once() {
    let store = tempfile::tempdir().expect("temp dir");
    let slow =
        "stages:\n  slow:\n    cmd: \"sleep 0.5 && echo done > out.txt\"\n    outs: [out.txt]\n";
    let a = sharing(store.path(), slow);
    let b = sharing(store.path(), slow);
    let first = a
        .command(&["run", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let second = b.command(&["run", "--json"]).output().expect("run b");
    let first = first.expect("spawn a").wait_with_output().expect("run a");
    let (first, second) = (parse_run(&first), parse_run(&second));
    first.assert_ok();
    second.assert_ok();
    let executed = first.executed().len() + second.executed().len();
    assert_eq!(executed, 1, "{:?} {:?}", first.statuses, second.statuses);
    assert_eq!(a.read("out.txt"), "done\n");
    assert_eq!(b.read("out.txt"), "done\n");
}

/// `[store] shared = "group"` (DVC's `cache.shared`): the store's folders become setgid and
/// group-writable and its entries group-writable, and the mode sticks to the store for a
/// second project that does not ask for it.
#[test]
fn a_group_shared_store_stays_group_writable_for_every_project() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777;
    let store = tempfile::tempdir().expect("temp dir");
    let a = TestProject::new(A);
    a.write(
        "augflow.toml",
        &format!(
            "[store]\npath = \"{}\"\nshared = \"group\"\n",
            store.path().display()
        ),
    );
    let b = sharing(store.path(), B);
    a.run(&[]).assert_ok();
    b.run(&[]).assert_ok();
    assert_eq!(mode(store.path()), 0o2775);
    let entries: Vec<PathBuf> = files_under(&store.path().join("ac"));
    assert_eq!(entries.len(), 2, "{entries:?}");
    for entry in &entries {
        assert_eq!(mode(entry), 0o664, "{}", entry.display());
        assert_eq!(mode(entry.parent().expect("shard")), 0o2775);
    }
}
