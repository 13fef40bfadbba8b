//! `augflow run --watch`: run, then rerun whenever the pipeline file, `augflow.toml` or a
//! source dependency (a `deps` path or path param no stage writes) is saved. Events are
//! debounced; outputs and `.augflow/` never trigger a run. Ctrl-C exits 130.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use super::error::CliError;
use super::run::{RunArgs, run_with};
use super::session::{cancel_on_ctrl_c, pipeline_path};
use crate::kinds::{Registry, path_params_of};
use crate::project::CONFIG_FILE;
use crate::runner::CancelToken;
use crate::spec::{Action, RelPath, parse_file};

/// Quiet time after the last relevant event before rerunning (editors write in bursts).
const DEBOUNCE: Duration = Duration::from_millis(250);
/// How often a wait looks at Ctrl-C.
const TICK: Duration = Duration::from_millis(50);

type Events = Receiver<notify::Result<notify::Event>>;

pub fn run(args: &RunArgs, store: Option<&Path>) -> Result<(), CliError> {
    let cancel = CancelToken::new();
    cancel_on_ctrl_c(&cancel);
    let pipeline = pipeline_path(args.select.pipeline.as_deref());
    let Some(pipeline) = std::fs::canonicalize(&pipeline).ok() else {
        return Err(CliError::invalid(format!(
            "watch {}: it does not exist",
            pipeline.display()
        )));
    };
    let root = pipeline.parent().unwrap_or(Path::new("/")).to_path_buf();
    let (sender, events) = channel();
    // The watcher starts before the first run, so a save during that run is not lost.
    let mut watcher = notify::recommended_watcher(sender)
        .map_err(|err| CliError::environment(format!("start watching files: {err}")))?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|err| CliError::environment(format!("watch {}: {err}", root.display())))?;
    loop {
        // A failed run (a broken pipeline, a failed node) is shown and watched again.
        if let Err(err) = run_with(args, store, &cancel, true) {
            err.print();
        }
        if cancel.is_cancelled() {
            return Err(CliError::Interrupted);
        }
        let watched = Watched::read(&pipeline, &root);
        if !args.json {
            eprintln!(
                "watching {} path(s) for changes (Ctrl-C to stop)",
                watched.sources.len() + 2
            );
        }
        let Some(changed) = wait_for_change(&events, &watched, &cancel) else {
            return Err(CliError::Interrupted);
        };
        let changed: Vec<String> = changed
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap_or(p).display().to_string())
            .collect();
        if args.json {
            let line = serde_json::json!({"event": "watch_changed", "paths": changed});
            println!("{line}");
        } else {
            eprintln!("changed: {}; running again", changed.join(", "));
        }
    }
}

/// The paths whose change reruns the pipeline.
struct Watched {
    pipeline: PathBuf,
    config: PathBuf,
    state: PathBuf,
    /// Dependencies that no stage writes (outputs change on every run).
    sources: Vec<PathBuf>,
}

impl Watched {
    /// From the pipeline as it is now; a pipeline that does not parse yields only the
    /// files whose fixing should trigger a run.
    fn read(pipeline: &Path, root: &Path) -> Watched {
        let mut deps: Vec<RelPath> = Vec::new();
        let mut outs: Vec<RelPath> = Vec::new();
        if let Ok(parsed) = parse_file(pipeline) {
            let registry = Registry::builtin();
            for node in &parsed.pipeline.nodes {
                match &node.action {
                    Action::Shell(shell) => {
                        deps.extend(shell.deps.iter().map(|d| d.value.clone()));
                        outs.extend(shell.outs.iter().map(|o| o.value.clone()));
                    }
                    Action::Typed(typed) => {
                        let paths = registry
                            .get(&typed.kind)
                            .and_then(|kind| path_params_of(kind, &typed.params).ok());
                        deps.extend(paths.into_iter().flat_map(|p| p.into_values()));
                    }
                }
            }
        }
        let sources = deps
            .iter()
            .filter(|dep| !outs.iter().any(|out| dep.is_within(out)))
            .map(|dep| dep.to_path(root))
            .collect();
        Watched {
            pipeline: pipeline.to_path_buf(),
            config: root.join(CONFIG_FILE),
            state: root.join(".augflow"),
            sources,
        }
    }

    fn wants(&self, path: &Path) -> bool {
        if path.starts_with(&self.state) {
            return false;
        }
        path == self.pipeline
            || path == self.config
            || self.sources.iter().any(|source| path.starts_with(source))
    }
}

/// Blocks until a watched path changed and then stayed quiet for [`DEBOUNCE`]; None on
/// Ctrl-C or when the watcher stopped.
fn wait_for_change(
    events: &Events,
    watched: &Watched,
    cancel: &CancelToken,
) -> Option<BTreeSet<PathBuf>> {
    let mut changed = BTreeSet::new();
    let mut last = Instant::now();
    loop {
        if cancel.is_cancelled() {
            return None;
        }
        if !changed.is_empty() && last.elapsed() >= DEBOUNCE {
            return Some(changed);
        }
        match events.recv_timeout(TICK) {
            Ok(Ok(event)) if !matches!(event.kind, EventKind::Access(_)) => {
                let relevant: Vec<PathBuf> = event
                    .paths
                    .into_iter()
                    .filter(|p| watched.wants(p))
                    .collect();
                if !relevant.is_empty() {
                    last = Instant::now();
                    changed.extend(relevant);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!("file watching reported an error: {err}"),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}
