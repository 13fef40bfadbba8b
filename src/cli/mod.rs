//! The `augflow` command line: parse arguments, call the library, map outcomes to exit
//! codes. No pipeline logic lives here. Every subcommand returns `Result<(), CliError>`;
//! only [`main`] prints an error and picks the exit code.

mod dag;
mod error;
mod exec_node;
mod explain;
mod gc;
mod lineage;
mod metrics;
mod metrics_view;
mod remote;
mod render;
mod report;
mod run;
mod schema;
mod session;
mod show;
mod status;
mod table;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Documented exit codes (see README.md).
pub mod exit {
    /// Everything requested is up to date.
    pub const OK: u8 = 0;
    /// At least one node failed (or, for `status`, at least one node is stale with `--check`).
    pub const NODE_FAILED: u8 = 1;
    /// The pipeline file or the command line is invalid; nothing ran.
    pub const INVALID: u8 = 2;
    /// The store, the project folder or the filesystem failed outside any one node.
    pub const ENVIRONMENT: u8 = 3;
    /// Interrupted (Ctrl-C); finished nodes are kept, running ones published nothing.
    pub const INTERRUPTED: u8 = 130;
}

/// Default pipeline file name, looked up in the current folder.
pub const DEFAULT_PIPELINE: &str = "augflow.yaml";

#[derive(Debug, Parser)]
#[command(
    name = "augflow",
    version,
    about = "Declarative, content-hashed pipelines for ML studies"
)]
pub struct Cli {
    /// Content-addressed store to use instead of `.augflow/store` (e.g. a shared folder).
    #[arg(long, global = true, env = crate::project::STORE_ENV, value_name = "DIR")]
    pub store: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline: execute what misses the cache, reuse the rest.
    Run(run::RunArgs),
    /// List stale nodes and why each is stale.
    Status(status::StatusArgs),
    /// Show which key inputs of a node changed since its last run.
    Explain(session::NodeArgs),
    /// Print the graph as text or Graphviz dot.
    Dag(dag::DagArgs),
    /// Remove from the store what no given pipeline references.
    Gc(gc::GcArgs),
    /// Upload the pipeline's locally stored results to a remote cache.
    Push(remote::TransferArgs),
    /// Fetch the pipeline's results from a remote cache (verified); executes nothing.
    Pull(remote::PullArgs),
    /// Trust a project's remote, repair broken remote entries, create a signing key.
    #[command(subcommand)]
    Remote(remote::RemoteCommand),
    /// Show where a node's outputs are and its recorded metrics.
    Show(session::NodeArgs),
    /// Compare recorded metrics: one row per node, axes and params as columns.
    Metrics(metrics::MetricsArgs),
    /// What produced a node's outputs, or (`--used-by`) which nodes used them.
    Lineage(lineage::LineageArgs),
    /// Bring the study report up to date and write it to `report/` with the run's provenance.
    Report(report::ReportArgs),
    /// Print the JSON Schema of the pipeline format (for yaml-language-server).
    Schema,
    /// Print the blake3 content digest of files, as keys use them (for benchmarks and checks).
    #[command(hide = true)]
    Hash { paths: Vec<PathBuf> },
    /// Run one node inside a Slurm job (what `run --executor slurm` submits).
    #[command(hide = true)]
    ExecNode(exec_node::ExecNodeArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Run(_) | Command::Push(_) | Command::Pull(_) | Command::ExecNode(_)
    ) {
        exit_quietly_on_closed_pipe();
    }
    init_tracing();
    init_diagnostics();
    let store = cli.store.as_deref();
    let outcome = match cli.command {
        Command::Run(args) if args.watch => watch::run(&args, store),
        Command::Run(args) => run::run(&args, store),
        Command::Status(args) => status::run(&args, store),
        Command::Explain(args) => explain::run(&args, store),
        Command::Dag(args) => dag::run(&args),
        Command::Gc(args) => gc::run(&args, store),
        Command::Push(args) => remote::push(&args, store),
        Command::Pull(args) => remote::pull(&args, store),
        Command::Remote(command) => remote::remote_command(&command, store),
        Command::Show(args) => show::run(&args, store),
        Command::Metrics(args) => metrics::run(&args, store),
        Command::Lineage(args) => lineage::run(&args, store),
        Command::Report(args) => report::run(&args, store),
        Command::Schema => schema::run(),
        Command::Hash { paths } => schema::hash(&paths),
        Command::ExecNode(args) => exec_node::run(&args, store),
    };
    match outcome {
        Ok(()) => ExitCode::from(exit::OK),
        Err(err) => {
            let code = err.process_exit_code();
            err.print();
            ExitCode::from(code)
        }
    }
}

/// Read-only commands piped into `head` end like `cat` does: quietly, instead of
/// panicking in `println!`. Commands that write results keep Rust's default (EPIPE is an
/// error they handle), so a closed pipe never kills them between two atomic steps.
fn exit_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called once, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUGFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

/// Wraps diagnostics to the terminal, and not at all when piped (so logs and tests see
/// whole lines).
fn init_diagnostics() {
    use std::io::IsTerminal;
    let width = if std::io::stderr().is_terminal() {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100)
    } else {
        usize::MAX / 2
    };
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(miette::MietteHandlerOpts::new().width(width).build())
    }));
}
