//! `augflow run`.

use std::path::Path;

use clap::Args;

use super::error::CliError;
use super::render::{self, OnlyChanges};
use super::session::{JobsArgs, RemoteArgs, SelectArgs, Session, run_nodes};
use super::status;
use crate::kinds::BackendRequest;
use crate::runner::gpus::{GpuSettings, parse_gpu_list};
use crate::runner::{CancelToken, ExecutorKind, RunOptions};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub jobs: JobsArgs,
    /// Print what would execute, run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep running independent nodes after a failure.
    #[arg(long, short = 'k')]
    pub keep_going: bool,
    /// One JSON object per event on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Compute backend of ML stages: CUDA when an NVIDIA driver answers, else wgpu on a
    /// GPU adapter, else the CPU (auto); or forced.
    #[arg(long, value_enum, env = "AUGFLOW_BACKEND", default_value_t = BackendRequest::Auto)]
    pub backend: BackendRequest,
    /// GPUs to schedule nodes on, e.g. `0,1,3` (default: every GPU detected). Each node
    /// that wants a GPU gets its own; see `resources` in docs/pipelines.md.
    #[arg(long, value_name = "IDS")]
    pub gpus: Option<String>,
    /// Nodes that may run on one GPU at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub gpu_share: u32,
    /// Extra attempts for a node killed for memory (SIGKILL, GPU out of memory) or lost
    /// with its Slurm node; a stage's own `retries:` also covers its ordinary failures.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// Where nodes that miss the cache execute (default: `[executor] default` in
    /// augflow.toml, else local). `slurm` submits one sbatch job per node; see docs/slurm.md.
    #[arg(long, value_enum, value_name = "EXECUTOR")]
    pub executor: Option<ExecutorKind>,
    /// Run again whenever the pipeline file, augflow.toml or a source dependency is saved,
    /// printing only what changed; Ctrl-C stops (exit 130).
    #[arg(long, conflicts_with = "dry_run")]
    pub watch: bool,
}

pub fn run(args: &RunArgs, store: Option<&Path>) -> Result<(), CliError> {
    run_with(args, store, &CancelToken::new(), false)
}

/// One run; `only_changes` leaves out nodes that were simply cached (for `--watch`).
pub fn run_with(
    args: &RunArgs,
    store: Option<&Path>,
    cancel: &CancelToken,
    only_changes: bool,
) -> Result<(), CliError> {
    let gpus = check_gpu_args(args).map_err(CliError::invalid)?;
    let session = Session::open(args.select.pipeline.as_deref(), store)?;
    let targets = session.targets(&args.select.targets)?;
    let mut engine = session.engine(cancel.clone());
    engine.backend = args.backend;
    engine.gpus = GpuSettings {
        ids: gpus,
        share: args.gpu_share as usize,
    };
    engine.retries = args.retries;
    let remote_warning = session.attach_remote(&mut engine, &args.remote)?;
    if args.dry_run {
        return status::print_plan(&engine, &targets, args.json, false);
    }
    let options = RunOptions {
        targets,
        jobs: args.jobs.jobs.get(),
        keep_going: args.keep_going,
        executor: args.executor.unwrap_or(session.project.executor.default),
    };
    let mut renderer = render::for_run(args.json);
    if only_changes {
        renderer = Box::new(OnlyChanges(renderer));
    }
    run_nodes(&engine, &options, remote_warning, &mut renderer)
}

/// `--backend cuda` needs a build with the CUDA backend and a driver that sees a device,
/// and `--gpus` must name devices it has: all checked before anything runs (exit 2, one
/// line), since cudarc would otherwise panic inside the first node.
fn check_gpu_args(args: &RunArgs) -> Result<Option<Vec<u32>>, String> {
    let gpus = args
        .gpus
        .as_deref()
        .map(parse_gpu_list)
        .transpose()
        .map_err(|message| format!("read --gpus: {message}"))?;
    if args.backend == BackendRequest::Cuda {
        let devices = augflow_stages::backend::cuda_backend()
            .map_err(|reason| format!("use --backend cuda: {reason}"))?;
        if let Some(missing) = gpus
            .iter()
            .flatten()
            .find(|&&id| id as usize >= devices.len())
        {
            return Err(format!(
                "use GPU {missing} from --gpus: the NVIDIA driver sees {} device(s)",
                devices.len()
            ));
        }
    }
    Ok(gpus)
}
