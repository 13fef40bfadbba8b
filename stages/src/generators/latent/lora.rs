//! LoRA on the latent U-Net with Burn's reparameterisation (`LoraAdapter`, as
//! `Module::apply_lora` attaches): each targeted `Linear` weight W [in, out] becomes
//! W + scale·A·B with A [in, r], B [r, out]; with `conv`, each targeted conv weight
//! W [out, in, kh, kw] becomes W + scale·reshape(A·B) with A [out, r], B [r, in·kh·kw]
//! (LoCon's flattening). scale = α/r × the sampling-time `lora_scale`; every other
//! parameter is frozen. A is drawn N(0, 1/r²) from a keyed stream (Burn's `Lora` draws
//! from its global RNG), so training is reproducible; B starts at 0.

use std::path::Path;

use burn::module::{LoraAdapter, Module, Param, ParamGroup, Reparameterizer};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Tensor, TensorData};

use super::config::LoraSpec;
use super::unet::LatentUNet;
use crate::StageError;
use crate::rng::{keyed_rng, normal};
use crate::weights::{file_store, load_error};

/// Parameter paths that get adapters: the attention projections; with `projections`
/// the transformer blocks' other per-pixel linear maps; with `conv` the residual blocks'
/// 3×3 convs.
pub fn target_pattern(spec: &LoraSpec) -> String {
    let mut targets = vec![r"attn[12]\.(q|k|v|out)"];
    if spec.projections {
        targets.push("proj_in|proj_out|ff1|ff2");
    }
    if spec.conv {
        targets.push(r"(blocks\.\d+|mid[12])\.conv[12]");
    }
    format!(r"(^|\.)({})\.weight$", targets.join("|"))
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
    attach(
        unet,
        target_pattern(spec),
        spec.rank,
        spec.alpha / spec.rank as f64 * scale,
        seed,
    )
}

/// Attaches rank-`rank` adapters of factor scale `scale` to the parameters of `module`
/// whose paths match `pattern` and freezes every parameter; A is drawn from the stream
/// keyed by `seed` (Stable Diffusion's LoRA uses it with its own targets).
pub(crate) fn attach<M: Module>(
    module: M,
    pattern: String,
    rank: usize,
    scale: f64,
    seed: u64,
) -> Result<M, StageError> {
    let group = ParamGroup::from_regex(pattern)
        .map_err(|err| StageError::InvalidConfig(format!("lora targets: {err:?}")))?;
    Ok(module.apply_reparameterization(KeyedLora {
        rank,
        scale,
        group,
        seed,
        count: 0,
    }))
}

/// Counts adapter factor pairs (to check a model has them).
pub fn adapter_count<M: Module>(unet: &M) -> usize {
    let snapshots = unet.collect(None, None, false);
    snapshots
        .iter()
        .filter(|s| s.name.ends_with(".lora.a"))
        .count()
}

/// The adapter factors alone, as safetensors bytes.
pub fn adapter_bytes<M: Module>(unet: &M) -> Result<Vec<u8>, StageError> {
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
pub fn load_adapters<M: Module>(mut unet: M, path: &Path) -> Result<M, StageError> {
    let load_err = |reason: String| load_error(path, reason);
    let mut store = file_store(path, Some(ADAPTER_NAMES))?;
    let expected = 2 * adapter_count(&unet);
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

/// Attaches a [`LoraAdapter`] to every matching 2-D (linear) or 4-D (conv) weight and
/// freezes every parameter; A comes from the stream keyed by (`seed`, adapter number).
struct KeyedLora {
    rank: usize,
    scale: f64,
    group: ParamGroup,
    seed: u64,
    count: u64,
}

impl Reparameterizer for KeyedLora {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<Self::Reparam>) {
        let dims = param.lazy_shape().to_vec();
        let device = param.lazy_device();
        let base = param.set_require_grad(false);
        if !(D == 2 || D == 4) || !self.group.matches(&base.id, Some(path)) {
            return (base, None);
        }
        // Linear [in, out]: A [in, r]; conv [out, in, kh, kw]: A [out, r].
        let (rows, cols) = (dims[0], dims[1..].iter().product::<usize>());
        let mut rng = keyed_rng(self.seed, "lora-a", &[self.count]);
        self.count += 1;
        let std = 1.0 / self.rank as f32;
        let a: Vec<f32> = (0..rows * self.rank)
            .map(|_| std * normal(&mut rng))
            .collect();
        let a = Tensor::<2>::from_data(TensorData::new(a, [rows, self.rank]), &device);
        let b = Tensor::<2>::zeros([self.rank, cols], &device);
        let adapter = LoraAdapter {
            a: Param::from_tensor(a),
            b: Param::from_tensor(b),
            scale: self.scale,
        };
        (base, Some(adapter))
    }
}
