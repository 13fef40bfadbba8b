//! Loading a diffusers/transformers safetensors file into a Burn module whose parameter
//! paths are the file's names. Every tensor is checked first (present, expected shape,
//! nothing left over) and all problems are reported in one error naming the file; half
//! precision is widened to f32.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::{Bool, Int, Tensor};

use crate::StageError;
use crate::classifiers::pretrained::{RawTensor, parse, serialize};
use crate::weights::tensor_names_problem;

/// Names and shapes of `module`'s tensors as PyTorch stores them (Linear weights
/// [out, in], norm scales `weight`/`bias`), without allocating lazy parameters.
pub fn torch_tensors<M: Module>(module: &M) -> BTreeMap<String, Vec<usize>> {
    let mut visitor = ShapeVisitor::default();
    module.visit(&mut visitor);
    visitor.tensors
}

#[derive(Default)]
struct ShapeVisitor {
    path: Vec<String>,
    containers: Vec<String>,
    tensors: BTreeMap<String, Vec<usize>>,
}

impl ShapeVisitor {
    fn record(&mut self, mut shape: Vec<usize>) {
        let module = self
            .containers
            .iter()
            .rev()
            .find(|c| c.starts_with("Struct:"))
            .map_or("", String::as_str);
        let mut path = self.path.clone();
        let Some(leaf) = path.last_mut() else { return };
        match (module, leaf.as_str()) {
            ("Struct:Linear", "weight") => shape.reverse(),
            ("Struct:LayerNorm" | "Struct:GroupNorm", "gamma") => *leaf = "weight".to_owned(),
            ("Struct:LayerNorm" | "Struct:GroupNorm", "beta") => *leaf = "bias".to_owned(),
            _ => {}
        }
        self.tensors.insert(path.join("."), shape);
    }
}

impl ModuleVisitor for ShapeVisitor {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_owned());
        self.containers.push(container_type.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.record(param.lazy_shape().to_vec());
    }

    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        self.record(param.lazy_shape().to_vec());
    }

    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        self.record(param.lazy_shape().to_vec());
    }
}

/// How a checkpoint's names relate to the module's paths.
#[derive(Default, Clone, Copy)]
pub struct Naming {
    /// Tensors that may be present and are skipped (e.g. CLIP's `position_ids` buffer).
    pub ignored: &'static [&'static str],
    /// (checkpoint, ours) name fragments where a path cannot spell diffusers' name (a
    /// `Sequential` index); both directions.
    pub layout: &'static [(&'static str, &'static str)],
    /// (legacy, current) name fragments older checkpoints use; read only.
    pub aliases: &'static [(&'static str, &'static str)],
}

impl Naming {
    /// The checkpoint's name for one of our paths.
    fn published(&self, ours: &str) -> String {
        self.layout
            .iter()
            .fold(ours.to_owned(), |name, (theirs, ours)| {
                name.replace(ours, theirs)
            })
    }

    /// A checkpoint name in the current spelling (aliases resolved).
    fn current(&self, name: &str) -> String {
        self.aliases
            .iter()
            .fold(name.to_owned(), |name, (old, new)| name.replace(old, new))
    }

    /// Our path for a current checkpoint name.
    fn ours(&self, name: &str) -> String {
        self.layout
            .iter()
            .fold(name.to_owned(), |name, (theirs, ours)| {
                name.replace(theirs, ours)
            })
    }
}

/// Names and shapes of `module`'s tensors as the published checkpoint has them.
pub fn published_tensors<M: Module>(module: &M, naming: &Naming) -> BTreeMap<String, Vec<usize>> {
    torch_tensors(module)
        .into_iter()
        .map(|(name, shape)| (naming.published(&name), shape))
        .collect()
}

/// Loads the safetensors file at `path` into `module`.
pub(crate) fn load_torch_file<M: Module>(
    module: M,
    path: &Path,
    naming: &Naming,
) -> Result<M, StageError> {
    load_torch_tensors(module, read_torch_file(path)?, path, naming)
}

/// The float tensors of the safetensors file at `path`, widened to f32.
pub(crate) fn read_torch_file(path: &Path) -> Result<BTreeMap<String, RawTensor>, StageError> {
    let bytes = fs::read(path).map_err(|source| StageError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&bytes).map_err(|reason| StageError::LoadWeights {
        path: path.to_owned(),
        reason,
    })
}

/// [`load_torch_file`] on tensors already read from `path`.
pub(crate) fn load_torch_tensors<M: Module>(
    mut module: M,
    tensors: BTreeMap<String, RawTensor>,
    path: &Path,
    naming: &Naming,
) -> Result<M, StageError> {
    let tensors: BTreeMap<String, RawTensor> = tensors
        .into_iter()
        .filter(|(name, _)| !naming.ignored.contains(&name.as_str()))
        .map(|(name, tensor)| (naming.current(&name), tensor))
        .collect();
    let expected = published_tensors(&module, naming);
    check_tensors(&expected, &tensors).map_err(|reason| StageError::LoadWeights {
        path: path.to_owned(),
        reason,
    })?;
    let tensors: BTreeMap<String, RawTensor> = tensors
        .into_iter()
        .map(|(name, tensor)| (naming.ours(&name), tensor))
        .collect();
    let mut store = SafetensorsStore::from_bytes(Some(serialize(&tensors)))
        .with_from_adapter(PyTorchToBurnAdapter)
        .validate(true);
    let result = module
        .load_from(&mut store)
        .map_err(|err| StageError::LoadWeights {
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(StageError::LoadWeights {
            path: path.to_owned(),
            reason: format!(
                "errors {:?}, missing {:?}, unused {:?}",
                result.errors, result.missing, result.unused
            ),
        });
    }
    Ok(module)
}

/// The names of `names` that `other` lacks, in order.
fn absent_from<V, W>(names: &BTreeMap<String, V>, other: &BTreeMap<String, W>) -> Vec<String> {
    names
        .keys()
        .filter(|name| !other.contains_key(*name))
        .cloned()
        .collect()
}

/// Every missing tensor, wrong shape and unexpected tensor, in one message.
pub(crate) fn check_tensors(
    expected: &BTreeMap<String, Vec<usize>>,
    found: &BTreeMap<String, RawTensor>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    problems.extend(tensor_names_problem(
        "missing",
        &absent_from(expected, found),
    ));
    for (name, shape) in expected {
        if let Some(tensor) = found.get(name)
            && &tensor.shape != shape
        {
            problems.push(format!(
                "`{name}` has shape {:?}, expected {shape:?}",
                tensor.shape
            ));
        }
    }
    problems.extend(tensor_names_problem(
        "unexpected",
        &absent_from(found, expected),
    ));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
