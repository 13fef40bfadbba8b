//! The start every pipeline command shares, done once: pipeline file → validated graph →
//! project → store → remote → engine; and the flags that feed it (`--remote`, `-j`).

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use augflow_cache::Store;
use augflow_cache::remote::RemoteError;
use clap::Args;
use petgraph::graph::NodeIndex;

use super::DEFAULT_PIPELINE;
use super::error::CliError;
use super::render::Renderer;
use crate::graph::{PipelineGraph, build};
use crate::kinds::Registry;
use crate::project::{Project, PushMode, RemoteConfig, RemoteOrigin, SharedMode};
use crate::runner::{CancelToken, Engine, Event, RemoteLink, RunOptions, RunSummary, run};
use crate::spec::{LoadError, parse_file};

#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Remote cache to use instead of the default one: a name declared in augflow.toml or
    /// the user config, or a location (`/abs/folder`, `dir:PATH`, `s3://bucket/prefix`).
    #[arg(long, env = "AUGFLOW_REMOTE", value_name = "NAME")]
    pub remote: Option<String>,
    /// Use no remote cache, even a default one.
    #[arg(long, conflicts_with = "remote")]
    pub no_remote: bool,
}

/// `-j`, the one declaration: `run` and `report` default to 1, `pull` to its own default.
#[derive(Debug, Clone, Copy, Args)]
pub struct JobsArgs {
    /// Nodes to run at once.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value = "1", value_parser = parse_jobs)]
    pub jobs: NonZeroUsize,
}

fn parse_jobs(text: &str) -> Result<NonZeroUsize, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of nodes: give 1 or more"))
}

/// The default pipeline file unless one is given.
pub fn pipeline_path(arg: Option<&Path>) -> PathBuf {
    arg.map_or_else(|| PathBuf::from(DEFAULT_PIPELINE), Path::to_path_buf)
}

/// A validated pipeline and its project; no store opened yet (`dag` needs none, and
/// opening one creates it).
pub struct Loaded {
    pub graph: PipelineGraph,
    pub project: Project,
    pub registry: Registry,
}

/// Parses and validates the pipeline and reads its project config.
pub fn load(pipeline: Option<&Path>, store_flag: Option<&Path>) -> Result<Loaded, CliError> {
    let path = pipeline_path(pipeline);
    let registry = Registry::builtin();
    let parsed = parse_file(&path).map_err(load_error)?;
    let graph = build(parsed, &registry).map_err(CliError::Pipeline)?;
    let project = Project::open(&graph.pipeline.root, store_flag).map_err(CliError::invalid)?;
    Ok(Loaded {
        graph,
        project,
        registry,
    })
}

fn load_error(err: LoadError) -> CliError {
    match err {
        LoadError::Invalid(errors) => CliError::Pipeline(errors),
        other => CliError::invalid(other),
    }
}

impl Loaded {
    /// Opens (creating if needed) the project's store.
    pub fn open_store(self) -> Result<Session, CliError> {
        let store = self.project.open_store().map_err(CliError::environment)?;
        Ok(Session {
            graph: self.graph,
            project: self.project,
            registry: self.registry,
            store,
        })
    }

    /// The node named `name` (`stage` or `stage@values`); `verb` says what the command
    /// wanted to do with it.
    pub fn node(&self, name: &str, verb: &str) -> Result<NodeIndex, CliError> {
        self.graph.find(name).ok_or_else(|| {
            CliError::invalid(format!(
                "{verb} `{name}`: no node has that name (see `augflow dag`)"
            ))
        })
    }
}

/// The pipeline and the part of it a command works on (`run`, `push`, `pull`).
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    /// Only these nodes (or all nodes of these stages) and their ancestors.
    #[arg(long = "target", short = 't', value_name = "NODE")]
    pub targets: Vec<String>,
}

/// The arguments of a command about one node (`explain`, `show`).
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node (`stage` or `stage@values`).
    pub node: String,
    /// Pipeline file (default: augflow.yaml).
    #[arg(long, short = 'p')]
    pub pipeline: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

impl NodeArgs {
    /// The session and the node; `verb` says what the command wanted to do with it.
    pub fn open(
        &self,
        store_flag: Option<&Path>,
        verb: &str,
    ) -> Result<(Session, NodeIndex), CliError> {
        let loaded = load(self.pipeline.as_deref(), store_flag)?;
        let index = loaded.node(&self.node, verb)?;
        Ok((loaded.open_store()?, index))
    }
}

/// Everything a command that reads or runs nodes needs, opened once.
pub struct Session {
    pub graph: PipelineGraph,
    pub project: Project,
    pub registry: Registry,
    pub store: Store,
}

/// A remote selected by name and whether it opened.
pub type SelectedRemote = (String, Result<RemoteLink, RemoteError>);

impl Session {
    /// Loads the pipeline and opens its store.
    pub fn open(pipeline: Option<&Path>, store_flag: Option<&Path>) -> Result<Session, CliError> {
        load(pipeline, store_flag)?.open_store()
    }

    pub fn engine(&self, cancel: CancelToken) -> Engine<'_> {
        Engine::new(
            &self.graph,
            &self.project,
            &self.store,
            &self.registry,
            cancel,
        )
    }

    /// Node indices for `--target` names (a node, or all nodes of a stage).
    pub fn targets(&self, names: &[String]) -> Result<Vec<NodeIndex>, CliError> {
        let mut targets = Vec::new();
        for target in names {
            let found = self.graph.resolve_target(target);
            if found.is_empty() {
                return Err(CliError::invalid(format!(
                    "select target `{target}`: no node or stage has that name"
                )));
            }
            targets.extend(found);
        }
        Ok(targets)
    }

    /// Gives `engine` the selected remote, for lookups after a miss. A remote that cannot
    /// be opened is a warning (returned) and a miss, never a failed run.
    pub fn attach_remote(
        &self,
        engine: &mut Engine<'_>,
        args: &RemoteArgs,
    ) -> Result<Option<String>, CliError> {
        // Opening a remote may hang (an unresponsive endpoint): Ctrl-C must already work.
        cancel_on_ctrl_c(&engine.cancel);
        match select_remote(&self.project, args)? {
            None => Ok(None),
            Some((_, Ok(link))) => {
                engine.remote = Some(link);
                Ok(None)
            }
            Some((name, Err(err))) => Ok(Some(format!(
                "remote `{name}` is unavailable; going on without it: {err}"
            ))),
        }
    }

    /// The remote a transfer (`push`, `pull`) needs: here an unusable remote is an error.
    pub fn required_remote(&self, args: &RemoteArgs) -> Result<RemoteLink, CliError> {
        match select_remote(&self.project, args)? {
            None => Err(CliError::invalid(
                "pick a remote: give --remote NAME or set [remote] default in augflow.toml",
            )),
            Some((_, Ok(link))) => Ok(link),
            Some((name, Err(err))) => Err(CliError::environment(format!(
                "open remote `{name}`: {err}"
            ))),
        }
    }
}

/// Runs the nodes of `options` through the runner, Ctrl-C cancelling it, events (after
/// `remote_warning`, from [`Session::attach_remote`]) to `renderer`; the summary becomes
/// the outcome.
pub fn run_nodes(
    engine: &Engine<'_>,
    options: &RunOptions,
    remote_warning: Option<String>,
    renderer: &mut dyn Renderer,
) -> Result<(), CliError> {
    cancel_on_ctrl_c(&engine.cancel);
    if let Some(message) = remote_warning {
        renderer.handle(&Event::Warning {
            stage: None,
            message,
        });
    }
    let summary = run(engine, options, &mut |event| renderer.handle(event));
    outcome(&summary)
}

pub fn outcome(summary: &RunSummary) -> Result<(), CliError> {
    if summary.interrupted {
        Err(CliError::Interrupted)
    } else if summary.failed > 0 || summary.skipped > 0 {
        Err(CliError::NodesFailed)
    } else {
        Ok(())
    }
}

/// Ctrl-C cancels `cancel` (running nodes stop and publish nothing, transfers end); a
/// second one leaves at once, whatever is still blocked.
pub fn cancel_on_ctrl_c(cancel: &CancelToken) {
    let cancel = cancel.clone();
    // Only the first registration succeeds; a library caller may have its own.
    let _ = ctrlc::set_handler(move || {
        if cancel.is_cancelled() {
            std::process::exit(i32::from(super::exit::INTERRUPTED));
        }
        augflow_cache::remote::interrupt_transfers();
        cancel.cancel();
    });
}

/// The selected remote, if any; `Err` only when the name is unknown (a usage error).
pub fn select_remote(
    project: &Project,
    args: &RemoteArgs,
) -> Result<Option<SelectedRemote>, CliError> {
    if args.no_remote {
        return Ok(None);
    }
    let Some(name) = args
        .remote
        .clone()
        .or_else(|| project.default_remote.clone())
    else {
        return Ok(None);
    };
    if let Some(config) = location(&name) {
        // Given on the command line: the user's own choice.
        let link = RemoteLink::open(&name, &config, project);
        return Ok(Some((name, link)));
    }
    let Some(config) = project.remotes.get(&name) else {
        let known: Vec<&str> = project.remotes.keys().map(String::as_str).collect();
        return Err(CliError::invalid(format!(
            "select remote `{name}`: augflow.toml declares {}",
            if known.is_empty() {
                "no remotes".to_owned()
            } else {
                known.join(", ")
            }
        )));
    };
    if project.remote_origins.get(&name) == Some(&RemoteOrigin::Project)
        && !crate::project::is_trusted(&project.root, &name, config)
    {
        let err = RemoteError::Config {
            remote: format!("`{name}`"),
            reason: format!(
                "it is declared in the project's augflow.toml, which a branch can change, and \
                 you have not trusted this definition: check it, then run \
                 `augflow remote trust {name}`"
            ),
        };
        return Ok(Some((name, Err(err))));
    }
    let link = RemoteLink::open(&name, config, project);
    Ok(Some((name, link)))
}

/// A remote given by location on the command line: `/abs/dir`, `dir:PATH` or
/// `s3://bucket[/prefix]` (endpoint and region from the AWS environment).
fn location(value: &str) -> Option<RemoteConfig> {
    let dir = |path: &str| RemoteConfig::Dir {
        path: std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path)),
        push: PushMode::Manual,
        shared: SharedMode::User,
        timeout_seconds: None,
        writers: Default::default(),
    };
    if let Some(path) = value.strip_prefix("dir:") {
        return Some(dir(path));
    }
    if value.starts_with('/') {
        return Some(dir(value));
    }
    let rest = value.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    Some(RemoteConfig::S3 {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        endpoint: None,
        region: None,
        push: PushMode::Manual,
        allow_http: false,
        writers: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn jobs(args: &[&str]) -> Result<usize, clap::Error> {
        let cli = Cli::try_parse_from(args)?;
        Ok(match cli.command {
            Command::Run(run) => run.jobs.jobs.get(),
            Command::Report(report) => report.jobs.jobs.get(),
            Command::Pull(pull) => pull.jobs.jobs.get(),
            other => unreachable!("not a command with -j: {other:?}"),
        })
    }

    #[test]
    fn jobs_default_per_command_and_zero_is_refused() {
        assert_eq!(jobs(&["augflow", "run"]).ok(), Some(1));
        assert_eq!(jobs(&["augflow", "report"]).ok(), Some(1));
        assert_eq!(jobs(&["augflow", "pull"]).ok(), Some(8));
        assert_eq!(jobs(&["augflow", "pull", "-j", "3"]).ok(), Some(3));
        assert_eq!(jobs(&["augflow", "run", "--jobs", "4"]).ok(), Some(4));
        for bad in ["0", "many", "1.5"] {
            let err = jobs(&["augflow", "run", "-j", bad]).err();
            assert_eq!(
                err.map(|e| e.kind()),
                Some(clap::error::ErrorKind::ValueValidation),
                "-j {bad}"
            );
        }
    }
}
