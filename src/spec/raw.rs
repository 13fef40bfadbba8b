//! The pipeline file exactly as written: serde structs with spans. Nothing here is
//! interpreted; `lower` turns it into the typed model.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A YAML scalar or structure as parsed (numbers keep their int/float distinction).
pub type RawValue = serde_json::Value;

/// A pipeline file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "augflow pipeline")]
pub struct RawPipeline {
    /// Values usable as `${name}` in stage fields.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, RawValue>")]
    pub params: IndexMap<String, Spanned<RawValue>>,
    /// Default seed of every typed stage (a stage's own `seed` wins).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub seed: Option<Spanned<RawValue>>,
    /// Stages by name: a typed stage (`kind`) or a shell stage (`cmd`).
    #[schemars(with = "std::collections::BTreeMap<String, RawStage>")]
    pub stages: IndexMap<String, Spanned<RawStage>>,
}

/// One stage; `kind` and `cmd` select the form, the other fields are checked against it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    /// A registered typed stage kind, e.g. `dataset.phantom`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub kind: Option<Spanned<String>>,
    /// A shell command, run by `sh -c` in the pipeline file's folder.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cmd: Option<Spanned<String>>,
    /// Free text shown by `augflow dag`; not part of the key.
    #[serde(default)]
    pub desc: Option<String>,
    /// Parameters: typed stages check them against their kind; part of the key.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, RawValue>")]
    pub params: IndexMap<String, Spanned<RawValue>>,
    /// Typed inputs: input name → `<stage>.<output>`.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub inputs: IndexMap<String, Spanned<String>>,
    /// Shell stage: files or folders read, relative to the pipeline file.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub deps: Vec<Spanned<String>>,
    /// Shell stage: files or folders written, relative to the pipeline file.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub outs: Vec<Spanned<String>>,
    /// Shell stage: JSON files written (also outputs) that `augflow show` prints.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub metrics: Vec<Spanned<String>>,
    /// Shell stage: environment variables the command reads; their values enter the key.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub env: Vec<Spanned<String>>,
    /// Expands the stage into one node per combination of axis values.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, Vec<RawValue>>")]
    pub matrix: IndexMap<String, Spanned<Vec<Spanned<RawValue>>>>,
    /// Seed for this stage (an integer or a `${...}` reference).
    #[serde(default)]
    #[schemars(with = "Option<RawValue>")]
    pub seed: Option<Spanned<RawValue>>,
    /// What one node needs to run: GPUs (scheduled locally, `--gres` on Slurm) and
    /// memory. Not part of the key.
    #[serde(default)]
    pub resources: Option<RawResources>,
    /// Run a failed node again up to this many times (any failure, not only out-of-memory
    /// kills). Not part of the key.
    #[serde(default)]
    pub retries: Option<u32>,
}

/// `resources: {gpus: 1, memory_gb: 16}`.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, Default)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    /// GPUs per node (distinct devices); typed ML kinds default to 1 on a GPU backend.
    #[serde(default)]
    pub gpus: Option<u32>,
    /// Memory per node in GB (Slurm's `--mem`).
    #[serde(default)]
    pub memory_gb: Option<u32>,
}
