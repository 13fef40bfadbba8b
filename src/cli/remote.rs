//! `--remote` selection shared by `run`, `push`, `pull` and `gc`, and the `push` and `pull`
//! subcommands.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use super::load::{load, open_store};
use super::render::{JsonRenderer, PlainRenderer, Renderer};
use crate::project::{Project, PushMode, RemoteConfig, RemoteOrigin, SharedMode};
use crate::runner::{
    CancelToken, Engine, NodeState, RemoteLink, RunOptions, plan, run as run_pipeline,
    selected_nodes,
};

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
    if let Some(config) = location(&name) {
        // Given on the command line: the user's own choice.
        return Ok(Some((
            name.clone(),
            RemoteLink::open(&name, &config, project),
        )));
    }
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
    if project.remote_origins.get(&name) == Some(&RemoteOrigin::Project)
        && !crate::project::is_trusted(&project.root, &name, config)
    {
        let err = augflow_cache::remote::RemoteError::Config {
            remote: format!("`{name}`"),
            reason: format!(
                "it is declared in the project's augflow.toml, which a branch can change, and \
                 you have not trusted this definition: check it, then run \
                 `augflow remote trust {name}`"
            ),
        };
        return Ok(Some((name, Err(err))));
    }
    Ok(Some((
        name.clone(),
        RemoteLink::open(&name, config, project),
    )))
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
    push_or_repair(args, store_flag, false)
}

/// `augflow remote repair`: `push` that also replaces broken remote entries.
pub fn repair(args: &TransferArgs, store_flag: Option<&std::path::Path>) -> u8 {
    push_or_repair(args, store_flag, true)
}

fn push_or_repair(args: &TransferArgs, store_flag: Option<&std::path::Path>, repair: bool) -> u8 {
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
    let (mut repaired, mut broken) = (0, 0);
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
        let transfer = if repair {
            augflow_cache::remote::repair_action
        } else {
            augflow_cache::remote::push_action
        };
        match transfer(link.remote.as_ref(), &store, &key, &entry, link.parallel) {
            Ok(outcome) => {
                if outcome.entry_created {
                    pushed += 1;
                } else if outcome.entry_repaired {
                    repaired += 1;
                } else if outcome.remote_entry_broken {
                    broken += 1;
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
    if repaired > 0 {
        println!("repaired {repaired} broken remote entr(ies)");
    }
    if broken > 0 {
        eprintln!(
            "warning: {broken} remote entr(ies) are broken and were left alone; `augflow remote repair --remote {}` replaces them with yours",
            link.name
        );
    }
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

/// `augflow remote …`: the user's side of remote trust.
#[derive(Debug, clap::Subcommand)]
pub enum RemoteCommand {
    /// Trust a remote declared in this project's augflow.toml, exactly as it is defined now
    /// (recorded in the user config folder; a changed definition needs trusting again).
    Trust {
        name: String,
        /// Pipeline file whose folder holds augflow.toml (default: augflow.yaml).
        #[arg(long, short = 'p')]
        pipeline: Option<PathBuf>,
    },
    /// `push`, replacing remote entries that are broken (unparsable, or naming blobs the
    /// remote lacks) with this store's.
    Repair(TransferArgs),
    /// Write a new ed25519 signing key to FILE (mode 0600) and print its public key.
    Keygen { file: PathBuf },
}

pub fn remote_command(command: &RemoteCommand, store_flag: Option<&std::path::Path>) -> u8 {
    match command {
        RemoteCommand::Trust { name, pipeline } => trust(name, pipeline.as_deref()),
        RemoteCommand::Repair(args) => repair(args, store_flag),
        RemoteCommand::Keygen { file } => keygen(file),
    }
}

fn trust(name: &str, pipeline: Option<&std::path::Path>) -> u8 {
    let pipeline = pipeline.unwrap_or(std::path::Path::new(super::DEFAULT_PIPELINE));
    // The same root the loader derives (`spec::load`), so relative paths in the remote's
    // definition resolve, and are recorded, exactly as `run` and `pull` will see them.
    let root = pipeline
        .parent()
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    let project = match Project::open(&root, None) {
        Ok(project) => project,
        Err(err) => {
            super::report_error(&err);
            return exit::INVALID;
        }
    };
    let (Some(config), Some(RemoteOrigin::Project)) =
        (project.remotes.get(name), project.remote_origins.get(name))
    else {
        eprintln!(
            "error: failed to trust remote `{name}`: {} declares no remote of that name",
            root.join(crate::project::CONFIG_FILE).display()
        );
        return exit::INVALID;
    };
    match crate::project::trust(&project.root, name, config) {
        Ok(file) => {
            // The definition the user now vouches for, as a reminder of what it is.
            let shown = serde_json::to_string(config).unwrap_or_default();
            println!("trusted remote `{name}` as defined now: {shown}");
            println!("(recorded in {})", file.display());
            exit::OK
        }
        Err(err) => {
            super::report_error(&err);
            exit::ENVIRONMENT
        }
    }
}

fn keygen(file: &std::path::Path) -> u8 {
    use std::io::Write;
    let secret: [u8; 32] = rand::random();
    let public = augflow_cache::remote::public_key(&secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(file).and_then(|mut f| {
        writeln!(f, "{}", augflow_cache::remote::key_hex(&secret))?;
        f.sync_all()
    });
    if let Err(err) = written {
        eprintln!(
            "error: failed to write signing key {}: {err}",
            file.display()
        );
        return exit::ENVIRONMENT;
    }
    let public = augflow_cache::remote::key_hex(&public);
    println!("public key: {public}");
    println!(
        "point AUGFLOW_SIGNING_KEY (or signing_key in {}) at {}, and list the public key under the remote's [remotes.NAME.writers]",
        crate::project::USER_CONFIG_FILE,
        file.display()
    );
    exit::OK
}
