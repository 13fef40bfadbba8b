//! `augflow run`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::load::{load, open_store};
use super::remote::{RemoteArgs, select_remote};
use super::render::{JsonRenderer, PlainRenderer, ProgressRenderer, Renderer};
use super::{exit, status};
use crate::kinds::BackendRequest;
use crate::runner::gpus::{GpuSettings, parse_gpu_list};
use crate::runner::{CancelToken, Engine, ExecutorKind, RunOptions, run as run_pipeline};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline file (default: augflow.yaml).
    pub pipeline: Option<PathBuf>,
    /// Bring only these nodes (or all nodes of these stages) and their ancestors up to date.
    #[arg(long = "target", short = 't', value_name = "NODE")]
    pub targets: Vec<String>,
    /// Nodes to run at once.
    #[arg(short = 'j', long = "jobs", default_value_t = 1)]
    pub jobs: usize,
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

pub fn run(args: &RunArgs, store: Option<&std::path::Path>) -> u8 {
    if args.watch {
        return super::watch::run(args, store);
    }
    run_with(args, store, &CancelToken::new(), false)
}

/// One run; `only_changes` leaves out nodes that were simply cached (for `--watch`).
pub fn run_with(
    args: &RunArgs,
    store: Option<&std::path::Path>,
    cancel: &CancelToken,
    only_changes: bool,
) -> u8 {
    let gpus = match check_gpu_args(args) {
        Ok(gpus) => gpus,
        Err(message) => {
            eprintln!("error: failed to {message}");
            return exit::INVALID;
        }
    };
    let loaded = match load(args.pipeline.as_deref(), store) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let store = match open_store(&loaded.project) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let Ok(targets) = resolve_targets(&loaded.graph, &args.targets) else {
        return exit::INVALID;
    };
    let mut engine = Engine::new(
        &loaded.graph,
        &loaded.project,
        &store,
        &loaded.registry,
        cancel.clone(),
    );
    engine.backend = args.backend;
    engine.gpus = GpuSettings {
        ids: gpus,
        share: args.gpu_share as usize,
    };
    engine.retries = args.retries;
    {
        let cancel = cancel.clone();
        // Before the remote is opened: contacting it may hang too. Only the first
        // registration succeeds; a library caller may have its own.
        let _ = ctrlc::set_handler(move || {
            // A second Ctrl-C leaves at once, whatever is still blocked.
            if cancel.is_cancelled() {
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
            augflow_cache::remote::interrupt_transfers();
            cancel.cancel();
        });
    }
    let mut remote_warning = None;
    match select_remote(&loaded.project, &args.remote) {
        Err(code) => return code,
        Ok(None) => {}
        Ok(Some((_, Ok(link)))) => engine.remote = Some(link),
        // A remote that cannot be opened is a warning and a miss, never a failed run.
        Ok(Some((name, Err(err)))) => {
            remote_warning = Some(format!(
                "remote `{name}` is unavailable; going on without it: {err}"
            ));
        }
    }
    if args.dry_run {
        return status::print_plan(&engine, &targets, args.json, false);
    }
    let options = RunOptions {
        targets,
        jobs: args.jobs.max(1),
        keep_going: args.keep_going,
        executor: args.executor.unwrap_or(loaded.project.executor.default),
    };
    let renderer: Box<dyn Renderer> = if args.json {
        Box::new(JsonRenderer)
    } else if std::io::stderr().is_terminal() {
        Box::new(ProgressRenderer::new())
    } else {
        Box::new(PlainRenderer)
    };
    let mut renderer: Box<dyn Renderer> = if only_changes {
        Box::new(OnlyChanges(renderer))
    } else {
        renderer
    };
    if let Some(message) = remote_warning {
        renderer.handle(&crate::runner::Event::Warning {
            stage: None,
            message,
        });
    }
    let summary = run_pipeline(&engine, &options, &mut |event| renderer.handle(event));
    if summary.interrupted {
        exit::INTERRUPTED
    } else if summary.failed > 0 || summary.skipped > 0 {
        exit::NODE_FAILED
    } else {
        exit::OK
    }
}

/// Node indices for `--target` names (a node, or all nodes of a stage).
pub fn resolve_targets(
    graph: &crate::graph::PipelineGraph,
    names: &[String],
) -> Result<Vec<petgraph::graph::NodeIndex>, ()> {
    let mut targets = Vec::new();
    for target in names {
        let found = graph.resolve_target(target);
        if found.is_empty() {
            eprintln!("error: failed to select target `{target}`: no node or stage has that name");
            return Err(());
        }
        targets.extend(found);
    }
    Ok(targets)
}

/// Drops the lines of nodes that were simply reused from the store.
struct OnlyChanges(Box<dyn Renderer>);

impl Renderer for OnlyChanges {
    fn handle(&mut self, event: &crate::runner::Event) {
        if let crate::runner::Event::NodeFinished {
            status: crate::runner::NodeStatus::Cached,
            ..
        } = event
        {
            return;
        }
        self.0.handle(event);
    }
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
