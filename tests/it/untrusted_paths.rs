//! A pipeline from someone else's branch may declare any output and commit any symlink:
//! neither `run` nor `pull` may write, rename or delete anything outside the project.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{TestProject, files_under, parse_run};
use crate::remote::dir_remote_toml;

/// A stand-in for the user's home folder, outside every project, with its checksum when
/// made.
struct DecoyHome {
    dir: tempfile::TempDir,
    before: BTreeMap<PathBuf, Vec<u8>>,
}

impl DecoyHome {
    fn new() -> DecoyHome {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(".bashrc"), "export PS1='safe'\n").expect("write");
        std::fs::create_dir_all(dir.path().join(".ssh")).expect("mkdir");
        std::fs::write(dir.path().join(".ssh/config"), "Host *\n").expect("write");
        let mut decoy = DecoyHome {
            dir,
            before: BTreeMap::new(),
        };
        decoy.before = decoy.checksum();
        decoy
    }

    #[track_caller]
    fn assert_unchanged(&self) {
        assert_eq!(self.checksum(), self.before, "the decoy home changed");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Every file under the folder with its content (or link target): any write, rename
    /// or delete of a file changes it.
    fn checksum(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut found = BTreeMap::new();
        for path in files_under(self.path()) {
            let meta = std::fs::symlink_metadata(&path).expect("stat decoy");
            let content = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).expect("read link");
                target.to_string_lossy().into_owned().into_bytes()
            } else {
                std::fs::read(&path).expect("read decoy file")
            };
            found.insert(path, content);
        }
        found
    }
}

/// `augflow run --json` or `pull --json` refused to write through the `evil` link: its
/// events say `why` and `evil` failed (exit code 1).
#[track_caller]
fn assert_refused_at_the_link(output: &Output, why: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(why), "{stdout}");
    let result = parse_run(output);
    assert_eq!(result.code, 1, "{}", result.stderr);
    result.assert_status("failed", &["evil"]);
}

fn symlink_evil_to(project: &TestProject, decoy: &DecoyHome) {
    let evil = project.path("evil");
    if evil.exists() {
        std::fs::remove_dir_all(&evil).expect("remove evil");
    }
    std::os::unix::fs::symlink(decoy.path(), evil).expect("symlink");
}

#[test]
fn outputs_in_git_or_naming_the_pipeline_are_refused_before_anything_runs() {
    for (out, why) in [
        (".git/hooks/pre-commit", "`.git`"),
        ("augflow.yaml", "augflow.yaml"),
        ("augflow.toml", "augflow.toml"),
        (".augflow/store/FORMAT", "`.augflow/`"),
    ] {
        let project = TestProject::new(&format!(
            "stages:\n  plant:\n    cmd: \"echo pwned > ran.txt\"\n    outs: [\"{out}\"]\n"
        ));
        std::fs::create_dir_all(project.path(".git/hooks")).expect("mkdir");
        let output = project.augflow(&["run"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{out}: {stderr}");
        assert!(
            stderr.contains(&format!("move output `{out}` of stage `plant`")),
            "{out}: {stderr}"
        );
        assert!(stderr.contains(why), "{out}: {stderr}");
        // Line 4 of the pipeline is the `outs` line.
        assert!(stderr.contains("augflow.yaml:4:"), "{out}: {stderr}");
        assert!(!project.path("ran.txt").exists(), "{out}: the command ran");
        assert!(!project.path(".git/hooks/pre-commit").exists());
    }
}

const EVIL: &str = r#"
stages:
  evil:
    cmd: "mkdir -p evil && echo pwned > evil/.bashrc"
    outs: [evil/.bashrc]
"#;

#[test]
fn run_never_deletes_or_writes_through_a_committed_symlink() {
    let decoy = DecoyHome::new();
    let project =
        TestProject::new("stages:\n  evil:\n    cmd: \"true\"\n    outs: [evil/.bashrc]\n");
    symlink_evil_to(&project, &decoy);

    let result = project.run(&[]);
    decoy.assert_unchanged();
    assert_eq!(result.code, 1, "{}", result.stderr);
    result.assert_status("failed", &["evil"]);
    let output = project.augflow(&["run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let message = format!("{stdout}{stderr}");
    assert!(
        message.contains("write `evil/.bashrc` of stage `evil`")
            && message.contains("`evil` is a symbolic link"),
        "{message}"
    );
    decoy.assert_unchanged();
}

#[test]
fn restoring_from_the_store_never_writes_through_a_symlink() {
    let decoy = DecoyHome::new();
    let project = TestProject::new(EVIL);
    // Computed while `evil` was a real folder (as on the attacker's machine)…
    project.run(&[]).assert_ok();
    // …then the branch replaces it with a link to the victim's home.
    symlink_evil_to(&project, &decoy);

    let output = project.augflow(&["run", "--json"]);
    decoy.assert_unchanged();
    assert_refused_at_the_link(&output, "`evil` is a symbolic link");
}

/// The user's own config folder for `project`, trusting the project's remote `team`.
fn trust_team(project: &mut TestProject) {
    let config = project.path(".user-config").display().to_string();
    project.env.push(("AUGFLOW_CONFIG_DIR".into(), config));
    let trusted = project.augflow(&["remote", "trust", "team"]);
    assert!(trusted.status.success(), "{trusted:?}");
}

#[test]
fn pull_never_writes_through_a_symlink() {
    let decoy = DecoyHome::new();
    let remote = tempfile::tempdir().expect("temp dir");
    let toml = dir_remote_toml(remote.path());

    let mut attacker = TestProject::new(EVIL);
    attacker.write("augflow.toml", &toml);
    trust_team(&mut attacker);
    attacker.run(&[]).assert_ok();
    let pushed = attacker.augflow(&["push"]);
    assert!(pushed.status.success(), "{pushed:?}");

    let mut victim = TestProject::new(EVIL);
    victim.write("augflow.toml", &toml);
    // The victim trusts the remote: the attack is the branch's outputs, not its config.
    trust_team(&mut victim);
    symlink_evil_to(&victim, &decoy);
    let output = victim.augflow(&["pull", "--json"]);
    decoy.assert_unchanged();
    assert_refused_at_the_link(&output, "is a symbolic link");
}
