//! LoRA on the latent U-Net with Burn's own reparameterisation (`Module::apply_lora`):
//! each targeted `Linear` weight W [in, out] becomes W + scale·A·B with A [in, r],
//! B [r, out], scale = α/r × the sampling-time `lora_scale`; every other parameter is
//! frozen. Here A is redrawn from a keyed stream (Burn draws it from its global RNG), so
//! training is reproducible; B starts at 0.

use std::path::Path;

use burn::module::{Lora, Module, ModuleMapper, Param, ParamGroup};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Tensor, TensorData};

use super::config::LoraSpec;
use super::unet::LatentUNet;
use crate::StageError;
use crate::classifiers::rng::{keyed_rng, normal};

/// Parameter paths that get adapters: the attention projections, and with
/// `projections` the transformer blocks' other per-pixel linear maps.
pub fn target_pattern(spec: &LoraSpec) -> &'static str {
    if spec.projections {
        r"(^|\.)((attn[12]\.(q|k|v|out))|proj_in|proj_out|ff1|ff2)\.weight$"
    } else {
        r"(^|\.)attn[12]\.(q|k|v|out)\.weight$"
    }
}

/// Tensor names of adapter factors in a saved module.
const ADAPTER_NAMES: &str = r"\.lora\.(a|b)$";

/// Attaches adapters to `unet` (whose base weights are then frozen), with factor scale
/// α/r·`scale` and A drawn from the stream keyed by `seed`.
pub fn apply(
    unet: LatentUNet,
    spec: &LoraSpec,
    scale: f64,
    seed: u64,
) -> Result<LatentUNet, StageError> {
    let group = ParamGroup::from_regex(target_pattern(spec))
        .map_err(|err| StageError::InvalidConfig(format!("lora targets: {err:?}")))?;
    let unet = unet.apply_lora(Lora::new(spec.rank, spec.alpha * scale).set_param_group(group));
    Ok(unet.map(&mut AdapterInit {
        seed,
        count: 0,
        std: 1.0 / spec.rank as f64,
        path: Vec::new(),
    }))
}

/// Counts adapter factor pairs (to check a model has them).
pub fn adapter_count(unet: &LatentUNet) -> usize {
    let snapshots = unet.collect(None, None, false);
    snapshots
        .iter()
        .filter(|s| s.name.ends_with(".lora.a"))
        .count()
}

/// The adapter factors alone, as safetensors bytes.
pub fn adapter_bytes(unet: &LatentUNet) -> Result<Vec<u8>, StageError> {
    let save_err = |reason: String| StageError::SaveWeights {
        path: "lora".into(),
        reason,
    };
    let mut store = SafetensorsStore::from_bytes(None)
        .clear_metadata()
        .skip_enum_variants(true)
        .with_regex(ADAPTER_NAMES);
    unet.save_into(&mut store)
        .map_err(|err| save_err(err.to_string()))?;
    store.get_bytes().map_err(|err| save_err(err.to_string()))
}

/// Loads adapter factors from `path` into a U-Net that [`apply`] prepared; every factor
/// must be in the file and the file must hold nothing else.
pub fn load_adapters(mut unet: LatentUNet, path: &Path) -> Result<LatentUNet, StageError> {
    let load_err = |reason: String| StageError::LoadWeights {
        path: path.to_owned(),
        reason,
    };
    if !path.is_file() {
        return Err(load_err("the file does not exist".to_owned()));
    }
    let expected = 2 * adapter_count(&unet);
    let mut store = SafetensorsStore::from_file(path)
        .skip_enum_variants(true)
        .validate(true)
        .allow_partial(true)
        .with_regex(ADAPTER_NAMES);
    let result = unet
        .load_from(&mut store)
        .map_err(|err| load_err(err.to_string()))?;
    if !result.errors.is_empty() || !result.unused.is_empty() || result.applied.len() != expected {
        return Err(load_err(format!(
            "expected {expected} adapter tensors, loaded {}; errors {}, unused {:?}",
            result.applied.len(),
            result.errors.len(),
            result.unused
        )));
    }
    Ok(unet)
}

/// Redraws every adapter's A from a keyed stream, N(0, std²).
struct AdapterInit {
    seed: u64,
    count: u64,
    std: f64,
    path: Vec<String>,
}

impl ModuleMapper for AdapterInit {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let n = self.path.len();
        if n < 2 || self.path[n - 1] != "a" || self.path[n - 2] != "lora" {
            return param;
        }
        let mut rng = keyed_rng(self.seed, "lora-a", &[self.count]);
        self.count += 1;
        let std = self.std as f32;
        let shape = param.lazy_shape();
        let values: Vec<f32> = (0..shape.num_elements())
            .map(|_| std * normal(&mut rng))
            .collect();
        param.map(|t| {
            let device = t.device();
            let fresh = Tensor::<D>::from_data(TensorData::new(values, shape), &device);
            if t.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}
