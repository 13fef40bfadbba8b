//! Typed stage kinds: the engine's adapters around the plain functions in `augflow-stages`.
//! Each kind declares typed input and output ports (checked before anything runs), a
//! version constant that is part of every key it makes, and how to check its params.

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
mod split;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

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

/// Everything a kind gets to run one node.
pub struct KindContext<'a> {
    pub params: &'a BTreeMap<String, Value>,
    pub seed: u64,
    /// Path params (see `StageKind::path_params`) resolved against the pipeline's folder.
    pub paths: BTreeMap<String, PathBuf>,
    /// The compute backend the user asked for (`--backend`).
    pub backend: BackendRequest,
    /// The GPU the scheduler pinned this node to (Burn's device index), if any.
    pub gpu: Option<usize>,
    /// Reports progress of long stages to the renderers.
    pub progress: &'a (dyn Fn(Progress) + Sync),
    /// Input name → materialised input directory (verified against its digest).
    pub inputs: BTreeMap<String, PathBuf>,
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
}

pub trait StageKind: Send + Sync {
    fn name(&self) -> &'static str;
    /// Bump when the kind's code changes what it produces for the same inputs and params.
    fn version(&self) -> u32;
    fn inputs(&self) -> &'static [Port];
    fn outputs(&self) -> &'static [Port];
    /// Params that name a file or folder relative to the pipeline file. The engine checks
    /// them like shell `deps`, puts their content digests into the key, infers edges from
    /// other stages' outputs, and passes them resolved in `KindContext::paths`.
    fn path_params(&self) -> &'static [&'static str] {
        &[]
    }
    /// Input ports that gather many artifacts: `<stage>@*.<output>` in the YAML connects
    /// every node of a matrix stage, each arriving as `<port>[axis=value,…]` (see
    /// [`gathered`]).
    fn gather_inputs(&self) -> &'static [&'static str] {
        &[]
    }
    /// Input ports that may be left unconnected.
    fn optional_inputs(&self) -> &'static [&'static str] {
        &[]
    }
    /// True for kinds that compute on the `--backend` device (training, sampling, scoring
    /// with a network): on a GPU backend the scheduler gives each such node one GPU unless
    /// the stage declares `resources.gpus`.
    fn uses_device(&self) -> bool {
        false
    }
    /// Checks params without running anything (by deserialising the typed config).
    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String>;
    /// Checks which input ports are connected when that depends on the params (e.g. an
    /// optional input that one mode needs and another refuses). `connected` holds port
    /// names; required ports and valid params are checked elsewhere.
    fn check_inputs(
        &self,
        _params: &BTreeMap<String, Value>,
        _connected: &[&str],
    ) -> Result<(), String> {
        Ok(())
    }
    /// Checks params against the kind of the stage connected to input `port` (a param
    /// that applies to one generator family only, say). Returns the offending param's name
    /// and why, so the error points at its line.
    fn check_upstream(
        &self,
        _params: &BTreeMap<String, Value>,
        _port: &str,
        _producer_kind: &str,
    ) -> Result<(), (String, String)> {
        Ok(())
    }
    fn run(&self, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError>;
}

/// Deserialises params into a kind's typed config (which denies unknown fields).
pub fn typed_params<T: serde::de::DeserializeOwned>(
    params: &BTreeMap<String, Value>,
) -> Result<T, String> {
    let object: serde_json::Map<String, Value> =
        params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    serde_json::from_value(Value::Object(object)).map_err(|err| err.to_string())
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
        registry.add(Box::new(phantom::Phantom));
        registry.add(Box::new(image_set_summary::ImageSetSummary));
        registry.add(Box::new(split::PatientSplit));
        registry.add(Box::new(classifier::TrainClassifier));
        registry.add(Box::new(classifier::ScoreClassifier));
        registry.add(Box::new(generator::TrainDdpm));
        registry.add(Box::new(generator::TrainGan));
        registry.add(Box::new(generator::Sample));
        registry.add(Box::new(generator::AugmentMerge));
        registry.add(Box::new(generator::ScoreQuality));
        registry.add(Box::new(latent::TrainAutoencoder));
        registry.add(Box::new(latent::TrainDiffusionBase));
        registry.add(Box::new(latent::TrainFinetune));
        registry.add(Box::new(latent::TrainLora));
        registry.add(Box::new(latent::TrainDreambooth));
        registry.add(Box::new(latent::MergeLora));
        registry.add(Box::new(report::ReportStudy));
        registry.add(Box::new(reader_study::ReaderStudyPage));
        registry.add(Box::new(reader_study::ScoreReaderStudy));
        for kind in ingest::kinds() {
            registry.add(kind);
        }
        registry
    }

    fn add(&mut self, kind: Box<dyn StageKind>) {
        self.kinds.insert(kind.name(), kind);
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
    for &name in kind.path_params() {
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
/// in declared order, and its materialised directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered<'a> {
    pub axes: Vec<(String, String)>,
    pub dir: &'a PathBuf,
}

/// The artifacts connected to gathering input `port`, in input-name order.
pub fn gathered<'a>(ctx: &'a KindContext<'_>, port: &str) -> Vec<Gathered<'a>> {
    ctx.inputs
        .iter()
        .filter_map(|(name, dir)| {
            let (base, axes) = crate::graph::split_gather_name(name);
            (base == port).then(|| Gathered {
                axes: axes.unwrap_or_default(),
                dir,
            })
        })
        .collect()
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
