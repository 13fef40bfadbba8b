//! The pipeline's folder as it was at a git revision, exported from git into a temporary
//! folder (`git archive | tar -x`), so that revision's keys can be computed against the
//! local store without touching the working tree or the index.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use petgraph::graph::NodeIndex;

use super::engine::Engine;
use super::plan::{NodePlan, plan_with};
use crate::graph::EdgeKind;

#[derive(Debug, thiserror::Error)]
pub enum RevError {
    #[error("read revision `{rev}`: {message}")]
    Git { rev: String, message: String },
    #[error("read revision `{rev}`: the pipeline file {file} does not exist there")]
    NoPipeline { rev: String, file: String },
    #[error("create a temporary folder in {path}")]
    TempDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A revision's copy of the pipeline folder; removed when dropped.
#[derive(Debug)]
pub struct RevCheckout {
    dir: tempfile::TempDir,
    /// The pipeline file inside the copy.
    pub pipeline: PathBuf,
    /// The commit `rev` resolved to.
    pub commit: String,
}

impl RevCheckout {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// Exports the folder of `pipeline` (an absolute path inside a git work tree) at `rev`
/// into a new folder under `tmp_parent`.
pub fn checkout_at(pipeline: &Path, rev: &str, tmp_parent: &Path) -> Result<RevCheckout, RevError> {
    let git_error = |message: String| RevError::Git {
        rev: rev.to_owned(),
        message,
    };
    // A revision starting with `-` would be read by git as an option.
    if rev.is_empty() || rev.starts_with('-') {
        return Err(git_error("not a revision name".into()));
    }
    let root = pipeline
        .parent()
        .ok_or_else(|| git_error("the pipeline file has no folder".into()))?;
    let top = git(root, &["rev-parse", "--show-toplevel"]).map_err(&git_error)?;
    let top = std::fs::canonicalize(top.trim()).map_err(|e| git_error(e.to_string()))?;
    let root = std::fs::canonicalize(root).map_err(|e| git_error(e.to_string()))?;
    let prefix = root
        .strip_prefix(&top)
        .map_err(|_| git_error(format!("{} is outside the git work tree", root.display())))?;
    let prefix = prefix
        .to_str()
        .ok_or_else(|| git_error("the folder name is not UTF-8".into()))?;
    let commit = git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map_err(|_| git_error(format!("no such commit in {}", top.display())))?
    .trim()
    .to_owned();
    let tree = if prefix.is_empty() {
        commit.clone()
    } else {
        format!("{commit}:{prefix}")
    };
    std::fs::create_dir_all(tmp_parent).map_err(|source| RevError::TempDir {
        path: tmp_parent.to_path_buf(),
        source,
    })?;
    let dir = tempfile::Builder::new()
        .prefix("rev-")
        .tempdir_in(tmp_parent)
        .map_err(|source| RevError::TempDir {
            path: tmp_parent.to_path_buf(),
            source,
        })?;
    export_tree(&top, &tree, dir.path()).map_err(&git_error)?;
    // The revision may be someone else's branch: a committed symlink could lead reads,
    // and the outputs restored into the copy, out of it. Links are dropped; a dependency
    // behind one is then missing and its node says `not run`.
    remove_symlinks(dir.path()).map_err(|e| git_error(format!("cannot clean the copy: {e}")))?;
    let file_name = pipeline.file_name().unwrap_or_default();
    let at_rev = dir.path().join(file_name);
    if !at_rev.is_file() {
        return Err(RevError::NoPipeline {
            rev: rev.to_owned(),
            file: file_name.to_string_lossy().into_owned(),
        });
    }
    Ok(RevCheckout {
        dir,
        pipeline: at_rev,
        commit,
    })
}

/// Runs git in `dir`; its stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// Removes every symbolic link under `dir` (never following one).
fn remove_symlinks(dir: &Path) -> std::io::Result<()> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                tracing::warn!(path = %entry.path().display(), "ignoring a symlink committed at the revision");
                std::fs::remove_file(entry.path())?;
            } else if kind.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(())
}

/// `git archive TREE | tar -x -C DEST`.
fn export_tree(top: &Path, tree: &str, dest: &Path) -> Result<(), String> {
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(top)
        .args(["archive", "--format=tar", tree])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let Some(tar_input) = archive.stdout.take() else {
        return Err("git archive gave no output".into());
    };
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .stdin(tar_input)
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let archived = archive
        .wait_with_output()
        .map_err(|e| format!("git archive: {e}"))?;
    if !archived.status.success() {
        return Err(String::from_utf8_lossy(&archived.stderr).trim().to_owned());
    }
    if !tar.status.success() {
        return Err(format!(
            "tar could not unpack the revision: {}",
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    Ok(())
}

/// Plans `nodes` of a revision's copy. Git holds no stage outputs, so the outputs a shell
/// stage reads by path are written out of the store into the copy as soon as their
/// producer is found cached, exactly as a run would have left them.
pub fn plan_at_rev(engine: &Engine<'_>, nodes: &[NodeIndex]) -> Vec<NodePlan> {
    let graph = engine.graph;
    let read_by_path = |index: NodeIndex| {
        graph.dependents(index).any(|dependent| {
            graph
                .dependencies(dependent)
                .any(|(dep, edge)| dep == index && matches!(edge, EdgeKind::Path(_)))
        })
    };
    plan_with(engine, nodes, &mut |index, entry| {
        if !read_by_path(index) {
            return;
        }
        let node = graph.node(index);
        for (name, path) in engine.output_paths(node) {
            let Some(artifact) = entry.outputs.get(&name) else {
                continue;
            };
            if let Err(err) = engine.store.materialize(artifact, &path) {
                tracing::warn!(node = %node.name, output = %name, "failed to restore an output into the revision's copy: {err}");
            }
        }
    })
}
