//! Typed stage kinds: the engine's adapters around the plain functions in `augflow-stages`.
//! A kind is data plus one function: a [`KindSpec`] (typed input and output ports, checked
//! before anything runs; a version that is part of every key it makes; optional,
//! gathering inputs and path params), a [`StageConfig`] its params parse into, and a
//! function over both, joined by the one generic adapter [`Kind`] (see `adapter.rs`).

mod adapter;
pub use adapter::{ConfiguredKind, Kind, KindSpec, StageKind};
mod classifier;
pub use classifier::PREDICTIONS_FILE;
mod generator;
mod image_set_summary;
mod ingest;
mod latent;
mod ml;
mod phantom;
mod reader_study;
mod report;
mod schema;
mod sd;
pub use schema::pipeline_schema;
mod split;
mod synthetic;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use augflow_stages::StageConfig;
use augflow_stages::generators::latent::{train_dreambooth, train_finetune, train_lora};
use augflow_stages::generators::sd::{train_sd_dreambooth, train_sd_finetune, train_sd_lora};

use crate::spec::Value;

/// What flows along a typed edge. Every typed output is a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactType {
    /// `images.json` + `images/<class>/*.png` (see `augflow_stages::image_set`).
    ImageSet,
    /// `metrics.json`, shown by `augflow show`.
    Metrics,
    /// A trained classifier: `model.json`, `model.safetensors`, `history.json`.
    Model,
    /// A trained image generator: `generator.json` and its networks' weights.
    Generator,
    /// A latent-diffusion autoencoder: `autoencoder.json`, `autoencoder.safetensors`.
    Autoencoder,
}

impl fmt::Display for ArtifactType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArtifactType::ImageSet => "image_set",
            ArtifactType::Metrics => "metrics",
            ArtifactType::Model => "model",
            ArtifactType::Generator => "generator",
            ArtifactType::Autoencoder => "autoencoder",
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Port {
    pub name: &'static str,
    pub ty: ArtifactType,
}

pub const fn port(name: &'static str, ty: ArtifactType) -> Port {
    Port { name, ty }
}

/// Everything a kind gets to run one node.
pub struct KindContext<'a> {
    pub seed: u64,
    /// Path params (see `KindSpec::path_params`) resolved against the pipeline's folder.
    pub paths: BTreeMap<String, PathBuf>,
    /// The compute backend the user asked for (`--backend`).
    pub backend: BackendRequest,
    /// The GPU the scheduler pinned this node to (Burn's device index), if any.
    pub gpu: Option<usize>,
    /// Reports progress of long stages to the renderers.
    pub progress: &'a (dyn Fn(Progress) + Sync),
    /// Input name → materialised input directory (verified against its digest).
    pub inputs: BTreeMap<String, PathBuf>,
    /// Gathering input port → its artifacts, in input-name order (see [`gathered`]).
    pub gathered: BTreeMap<String, Vec<Gathered>>,
    /// Output name → empty directory to fill.
    pub outputs: BTreeMap<String, PathBuf>,
    pub cancel: &'a AtomicBool,
}

/// Which compute backend ML stages should use (`--backend`, `AUGFLOW_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendRequest {
    /// CUDA when an NVIDIA driver answers, else wgpu on a hardware adapter, else the CPU.
    #[default]
    Auto,
    /// NVIDIA GPUs through Burn's CUDA backend (needs the driver, not the toolkit).
    Cuda,
    /// WebGPU (Vulkan, Metal, DX12), even on a software adapter.
    Wgpu,
    /// The CPU backend.
    Cpu,
}

/// A progress report from inside a stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Progress {
    /// What is being counted, e.g. "epoch 3/35".
    pub message: String,
    /// Overall fraction done, 0..=1, when known.
    pub fraction: Option<f64>,
}

/// Recorded in the action entry beside the outputs.
#[derive(Debug, Default)]
pub struct KindOutcome {
    pub metadata: BTreeMap<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum KindError {
    #[error("use valid params: {0}")]
    Params(String),
    #[error("run the stage function")]
    Stage(#[from] augflow_stages::StageError),
    #[error("stop: the run was cancelled")]
    Cancelled,
    #[error("find the `{0}` directory the engine should have prepared")]
    MissingPort(String),
    /// Every typed node of a built graph passed its check; this names a bug.
    #[error("find the checked kind and params of node `{0}`")]
    Unchecked(String),
}

/// An adaptation kind, latent or SD: [`latent::adapt`] over the stage function `$train`
/// (a closure that captures nothing is the plain `fn` a [`Kind`] runs).
macro_rules! adaptation {
    ($spec:expr, $train:path) => {
        Kind::new($spec, |config, ctx| latent::adapt(config, ctx, $train))
    };
}

pub struct Registry {
    kinds: BTreeMap<&'static str, Box<dyn StageKind>>,
}

impl Registry {
    /// Every kind this build knows.
    pub fn builtin() -> Registry {
        let mut registry = Registry {
            kinds: BTreeMap::new(),
        };
        registry.add(Kind::new(phantom::SPEC, phantom::phantom));
        registry.add(Kind::new(ingest::FOLDER, ingest::folder));
        registry.add(Kind::new(ingest::CSV, ingest::csv));
        registry.add(Kind::new(ingest::KERMANY, ingest::kermany));
        registry.add(Kind::new(ingest::COVID_CHESTXRAY, ingest::covid_chestxray));
        registry.add(Kind::new(
            image_set_summary::SPEC,
            image_set_summary::summarise,
        ));
        registry.add(Kind::new(split::SPEC, split::split));
        registry.add(Kind::new(classifier::TRAIN, classifier::train));
        registry.add(Kind::new(classifier::SCORE, classifier::score));
        registry.add(
            Kind::new(generator::TRAIN_DDPM, generator::train_ddpm).with_inputs_check(
                |config, connected| {
                    generator::features_need_holdout(config.selection.holdout, connected)
                },
            ),
        );
        registry.add(
            Kind::new(generator::TRAIN_GAN, generator::train_gan).with_inputs_check(
                |config, connected| {
                    generator::features_need_holdout(config.selection.holdout, connected)
                },
            ),
        );
        registry.add(
            Kind::new(generator::SAMPLE, generator::sample)
                .with_upstream_check(generator::sample_fits_generator),
        );
        registry.add(Kind::new(
            synthetic::AUGMENT_MERGE,
            synthetic::augment_merge,
        ));
        registry.add(
            Kind::new(synthetic::SCORE_QUALITY, synthetic::score_quality)
                .with_inputs_check(synthetic::quality_inputs),
        );
        registry.add(Kind::new(
            latent::TRAIN_AUTOENCODER,
            latent::train_autoencoder,
        ));
        registry.add(Kind::new(
            latent::TRAIN_DIFFUSION_BASE,
            latent::train_diffusion_base,
        ));
        registry.add(adaptation!(latent::TRAIN_FINETUNE, train_finetune));
        registry.add(adaptation!(latent::TRAIN_LORA, train_lora));
        registry.add(adaptation!(latent::TRAIN_DREAMBOOTH, train_dreambooth));
        registry.add(Kind::new(latent::MERGE_LORA, latent::merge_lora));
        registry.add(Kind::new(sd::IMPORT, sd::import));
        registry.add(adaptation!(sd::TRAIN_FINETUNE, train_sd_finetune));
        registry.add(adaptation!(sd::TRAIN_LORA, train_sd_lora));
        registry.add(adaptation!(sd::TRAIN_DREAMBOOTH, train_sd_dreambooth));
        registry.add(Kind::new(report::SPEC, report::report));
        registry.add(Kind::new(reader_study::PAGE, reader_study::reader_page));
        registry.add(Kind::new(reader_study::SCORE, reader_study::score_readers));
        registry
    }

    fn add<C: StageConfig + schemars::JsonSchema>(&mut self, kind: Kind<C>) {
        self.kinds.insert(kind.spec().name, Box::new(kind));
    }

    pub fn get(&self, name: &str) -> Option<&dyn StageKind> {
        self.kinds.get(name).map(|kind| kind.as_ref())
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

/// The project-relative paths named by a node's path params (absent ones are skipped:
/// whether they are required is the kind's config's business).
pub fn path_params_of(
    kind: &dyn StageKind,
    params: &BTreeMap<String, Value>,
) -> Result<BTreeMap<String, crate::spec::RelPath>, String> {
    let mut paths = BTreeMap::new();
    for &name in kind.spec().path_params {
        let Some(value) = params.get(name) else {
            continue;
        };
        let Some(text) = value.as_str() else {
            return Err(format!(
                "give param `{name}` as a path string, not `{value}`"
            ));
        };
        let path = crate::spec::RelPath::parse(text)
            .map_err(|err| format!("use path `{text}` in param `{name}`: {err}"))?;
        paths.insert(name.to_owned(), path);
    }
    Ok(paths)
}

/// One artifact of a gathering input: the matrix axis values of the node that made it,
/// in declared order (none when one node is connected), and its materialised directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered {
    pub axes: Vec<(String, String)>,
    pub dir: PathBuf,
}

/// The artifacts connected to gathering input `port`, in input-name order.
pub fn gathered<'a>(ctx: &'a KindContext<'_>, port: &str) -> &'a [Gathered] {
    ctx.gathered.get(port).map_or(&[], Vec::as_slice)
}

/// The resolved path of a path param.
pub(crate) fn path_param<'a>(
    ctx: &'a KindContext<'_>,
    name: &str,
) -> Result<&'a PathBuf, KindError> {
    ctx.paths
        .get(name)
        .ok_or_else(|| KindError::MissingPort(name.to_owned()))
}

/// Replaces the pipeline-relative text of an optional path param, when set, by the path
/// the engine resolved (and hashed).
pub(crate) fn resolve_path_param(
    ctx: &KindContext<'_>,
    name: &str,
    param: &mut Option<PathBuf>,
) -> Result<(), KindError> {
    if param.is_some() {
        *param = Some(path_param(ctx, name)?.clone());
    }
    Ok(())
}

pub(crate) fn port_dir<'a>(
    dirs: &'a BTreeMap<String, PathBuf>,
    name: &str,
) -> Result<&'a PathBuf, KindError> {
    dirs.get(name)
        .ok_or_else(|| KindError::MissingPort(name.to_owned()))
}

impl BackendRequest {
    /// The stages crate's name for the same request.
    pub fn choice(self) -> augflow_stages::backend::BackendChoice {
        use augflow_stages::backend::BackendChoice;
        match self {
            BackendRequest::Auto => BackendChoice::Auto,
            BackendRequest::Cuda => BackendChoice::Cuda,
            BackendRequest::Wgpu => BackendChoice::Wgpu,
            BackendRequest::Cpu => BackendChoice::Cpu,
        }
    }

    /// Whether ML nodes will compute on a GPU: `auto` is resolved against this machine
    /// (CUDA driver, hardware wgpu adapter) without opening a device.
    pub fn is_gpu(self) -> bool {
        use augflow_stages::backend::{BackendChoice, resolve_auto};
        match self.choice() {
            BackendChoice::Auto => resolve_auto() != BackendChoice::Cpu,
            BackendChoice::Cuda | BackendChoice::Wgpu => true,
            BackendChoice::Cpu => false,
        }
    }
}
