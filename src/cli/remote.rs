//! `--remote` selection shared by `run`, `push`, `pull` and `gc`, and the `push` and `pull`
//! subcommands.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use super::load::{load, open_store};
use super::render::{JsonRenderer, PlainRenderer, Renderer};
use crate::project::Project;
use crate::runner::{
    CancelToken, Engine, NodeState, RemoteLink, RunOptions, plan, run as run_pipeline,
    selected_nodes,
};

#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Remote cache (declared in augflow.toml) to use instead of the default one.
    #[arg(long, env = "AUGFLOW_REMOTE", value_name = "NAME")]
    pub remote: Option<String>,
    /// Use no remote cache, even a default one.
    #[arg(long, conflicts_with = "remote")]
    pub no_remote: bool,
}

/// The selected remote, if any; `Err` only when the name is unknown (a usage error).
pub fn select_remote(
    project: &Project,
    args: &RemoteArgs,
) -> Result<Option<(String, RemoteLinkResult)>, u8> {
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
    let Some(config) = project.remotes.get(&name) else {
        let known: Vec<&str> = project.remotes.keys().map(String::as_str).collect();
        eprintln!(
            "error: failed to select remote `{name}`: augflow.toml declares {}",
            if known.is_empty() {
                "no remotes".to_owned()
            } else {
                known.join(", ")
            }
        );
        return Err(exit::INVALID);
    };
    Ok(Some((name.clone(), RemoteLink::open(&name, config))))
}

pub type RemoteLinkResult = Result<RemoteLink, augflow_cache::remote::RemoteError>;

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    /// Only these nodes (or stages) and their ancestors.
    #[arg(long = "target", short = 't', value_name = "NODE")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// One JSON object per event on stdout (pull).
    #[arg(long)]
    pub json: bool,
}

/// Nodes `pull` restores at once by default: restoring waits on the network and on fsync,
/// not on the CPU, so more than the cores pays (600 small nodes: 8 at once took half the
/// time of 4; docs/benchmarks.md).
const PULL_JOBS: usize = 8;

#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Nodes restored at once.
    #[arg(short = 'j', long = "jobs", default_value_t = PULL_JOBS)]
    pub jobs: usize,
}

/// Opens the remote a transfer needs: here an unusable remote is an error.
fn required_remote(project: &Project, args: &RemoteArgs) -> Result<RemoteLink, u8> {
    match select_remote(project, args)? {
        None => {
            eprintln!(
                "error: failed to pick a remote: give --remote NAME or set [remote] default in augflow.toml"
            );
            Err(exit::INVALID)
        }
        Some((_, Ok(link))) => Ok(link),
        Some((name, Err(err))) => {
            eprintln!("error: failed to open remote `{name}`: {err}");
            Err(exit::ENVIRONMENT)
        }
    }
}

type Prepared = (
    super::load::Loaded,
    augflow_cache::Store,
    RemoteLink,
    Vec<petgraph::graph::NodeIndex>,
);

/// What `push` and `pull` both start from: the pipeline, the local store, the remote (which
/// must be usable here) and the selected nodes.
fn prepare(args: &TransferArgs, store_flag: Option<&std::path::Path>) -> Result<Prepared, u8> {
    let loaded = load(args.pipeline.as_deref(), store_flag)?;
    let store = open_store(&loaded.project)?;
    let link = required_remote(&loaded.project, &args.remote)?;
    let targets =
        super::run::resolve_targets(&loaded.graph, &args.targets).map_err(|()| exit::INVALID)?;
    Ok((loaded, store, link, targets))
}

/// `augflow push`: uploads every node of the pipeline that is in the local store.
pub fn push(args: &TransferArgs, store_flag: Option<&std::path::Path>) -> u8 {
    let (loaded, store, link, targets) = match prepare(args, store_flag) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let engine = Engine::new(
        &loaded.graph,
        &loaded.project,
        &store,
        &loaded.registry,
        CancelToken::new(),
    );
    let (mut pushed, mut present, mut blobs, mut bytes, mut missing) = (0, 0, 0, 0, 0);
    for node_plan in plan(&engine, &selected_nodes(&engine, &targets)) {
        let entry = match (&node_plan.state, node_plan.key_digest) {
            (NodeState::UpToDate | NodeState::Restore, Some(key)) => {
                store.get_action(&key).ok().flatten().map(|e| (key, e))
            }
            _ => None,
        };
        let Some((key, entry)) = entry else {
            missing += 1;
            continue;
        };
        match augflow_cache::remote::push_action(
            link.remote.as_ref(),
            &store,
            &key,
            &entry,
            link.parallel,
        ) {
            Ok(outcome) => {
                if outcome.entry_created {
                    pushed += 1;
                } else {
                    present += 1;
                }
                blobs += outcome.blobs_uploaded;
                bytes += outcome.bytes_uploaded;
            }
            Err(err) => {
                eprintln!(
                    "error: failed to push `{}` to remote `{}`: {err}",
                    node_plan.stage, link.name
                );
                return exit::ENVIRONMENT;
            }
        }
    }
    println!(
        "pushed {pushed} node(s) ({blobs} blobs, {bytes} bytes) to `{}`; {present} already there; {missing} not computed yet",
        link.name
    );
    exit::OK
}

/// `augflow pull`: a run that restores from the local store or the remote, never executes.
pub fn pull(pull_args: &PullArgs, store_flag: Option<&std::path::Path>) -> u8 {
    let args = &pull_args.transfer;
    let (loaded, store, link, targets) = match prepare(args, store_flag) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let mut engine = Engine::new(
        &loaded.graph,
        &loaded.project,
        &store,
        &loaded.registry,
        CancelToken::new(),
    );
    engine.remote = Some(link);
    engine.execute = false;
    let options = RunOptions {
        targets,
        jobs: pull_args.jobs.max(1),
        keep_going: true,
        executor: crate::runner::ExecutorKind::Local,
    };
    let mut renderer: Box<dyn Renderer> = if args.json {
        Box::new(JsonRenderer)
    } else {
        Box::new(PlainRenderer)
    };
    let summary = run_pipeline(&engine, &options, &mut |event| renderer.handle(event));
    if summary.failed > 0 || summary.skipped > 0 {
        exit::NODE_FAILED
    } else {
        exit::OK
    }
}
