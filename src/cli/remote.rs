//! `augflow push`, `pull` and `remote …`: the user's side of remote caches. Selecting and
//! opening the remote is the session's; the transfers are the runner's.

use std::path::{Path, PathBuf};

use clap::Args;

use super::error::CliError;
use super::render::{JsonRenderer, PlainRenderer, Renderer};
use super::session::{JobsArgs, RemoteArgs, SelectArgs, Session, outcome};
use crate::project::{Project, RemoteOrigin};
use crate::runner::CancelToken;
use crate::runner::transfer::{PushReport, pull as pull_nodes, push as push_nodes};

#[derive(Debug, Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// One JSON object per event on stdout (pull).
    #[arg(long)]
    pub json: bool,
}

/// Nodes `pull` restores at once by default: restoring waits on the network and on fsync,
/// not on the CPU, so more than the cores pays (600 small nodes: 8 at once took half the
/// time of 4; docs/benchmarks.md).
const PULL_JOBS: &str = "8";

#[derive(Debug, Args)]
#[command(mut_arg("jobs", |jobs| jobs.default_value(PULL_JOBS).help("Nodes restored at once")))]
pub struct PullArgs {
    #[command(flatten)]
    pub transfer: TransferArgs,
    #[command(flatten)]
    pub jobs: JobsArgs,
}

/// `augflow push`: uploads every node of the pipeline that is in the local store.
pub fn push(args: &TransferArgs, store_flag: Option<&Path>) -> Result<(), CliError> {
    push_or_repair(args, store_flag, false)
}

/// `augflow remote repair`: `push` that also replaces broken remote entries.
fn repair(args: &TransferArgs, store_flag: Option<&Path>) -> Result<(), CliError> {
    push_or_repair(args, store_flag, true)
}

fn push_or_repair(
    args: &TransferArgs,
    store_flag: Option<&Path>,
    repair: bool,
) -> Result<(), CliError> {
    let session = Session::open(args.select.pipeline.as_deref(), store_flag)?;
    let link = session.required_remote(&args.remote)?;
    let targets = session.targets(&args.select.targets)?;
    let engine = session.engine(CancelToken::new());
    let report = push_nodes(&engine, &link, &targets, repair).map_err(CliError::environment)?;
    print_push_report(&report, &link.name);
    Ok(())
}

fn print_push_report(report: &PushReport, remote: &str) {
    let PushReport {
        pushed,
        present,
        missing,
        repaired,
        broken,
        blobs,
        bytes,
    } = report;
    println!(
        "pushed {pushed} node(s) ({blobs} blobs, {bytes} bytes) to `{remote}`; {present} already there; {missing} not computed yet"
    );
    if *repaired > 0 {
        println!("repaired {repaired} broken remote entr(ies)");
    }
    if *broken > 0 {
        eprintln!(
            "warning: {broken} remote entr(ies) are broken and were left alone; `augflow remote repair --remote {remote}` replaces them with yours"
        );
    }
}

/// `augflow pull`: a run that restores from the local store or the remote, never executes.
pub fn pull(pull_args: &PullArgs, store_flag: Option<&Path>) -> Result<(), CliError> {
    let args = &pull_args.transfer;
    let session = Session::open(args.select.pipeline.as_deref(), store_flag)?;
    let link = session.required_remote(&args.remote)?;
    let targets = session.targets(&args.select.targets)?;
    let mut renderer: Box<dyn Renderer> = if args.json {
        Box::new(JsonRenderer::stdout())
    } else {
        Box::new(PlainRenderer::stderr())
    };
    let summary = pull_nodes(
        session.engine(CancelToken::new()),
        link,
        targets,
        pull_args.jobs.jobs.get(),
        &mut |event| renderer.handle(event),
    );
    outcome(&summary)
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

pub fn remote_command(command: &RemoteCommand, store_flag: Option<&Path>) -> Result<(), CliError> {
    match command {
        RemoteCommand::Trust { name, pipeline } => trust(name, pipeline.as_deref()),
        RemoteCommand::Repair(args) => repair(args, store_flag),
        RemoteCommand::Keygen { file } => keygen(file),
    }
}

fn trust(name: &str, pipeline: Option<&Path>) -> Result<(), CliError> {
    let pipeline = pipeline.unwrap_or(Path::new(super::DEFAULT_PIPELINE));
    // The same root the loader derives (`spec::load`), so relative paths in the remote's
    // definition resolve, and are recorded, exactly as `run` and `pull` will see them.
    let root = pipeline
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let project = Project::open(&root, None).map_err(CliError::invalid)?;
    let (Some(config), Some(RemoteOrigin::Project)) =
        (project.remotes.get(name), project.remote_origins.get(name))
    else {
        return Err(CliError::invalid(format!(
            "trust remote `{name}`: {} declares no remote of that name",
            root.join(crate::project::CONFIG_FILE).display()
        )));
    };
    let file = crate::project::trust(&project.root, name, config).map_err(CliError::environment)?;
    // The definition the user now vouches for, as a reminder of what it is.
    let shown = serde_json::to_string(config).unwrap_or_default();
    println!("trusted remote `{name}` as defined now: {shown}");
    println!("(recorded in {})", file.display());
    Ok(())
}

fn keygen(file: &Path) -> Result<(), CliError> {
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
        return Err(CliError::environment(format!(
            "write signing key {}: {err}",
            file.display()
        )));
    }
    let public = augflow_cache::remote::key_hex(&public);
    println!("public key: {public}");
    println!(
        "point AUGFLOW_SIGNING_KEY (or signing_key in {}) at {}, and list the public key under the remote's [remotes.NAME.writers]",
        crate::project::USER_CONFIG_FILE,
        file.display()
    );
    Ok(())
}
