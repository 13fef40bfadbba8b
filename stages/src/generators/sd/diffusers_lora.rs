//! A LoRA's adapters in diffusers' naming, as its `train_text_to_image_lora.py` saves
//! them (`convert_state_dict_to_diffusers` + `save_lora_weights`) and
//! `StableDiffusionPipeline.load_lora_weights` reads them:
//! `unet.<module>.lora.down.weight` [r, in] and `unet.<module>.lora.up.weight` [out, r],
//! ΔW = up · down [out, in]. The file carries no α, so diffusers scales by 1: our α/r is
//! folded into `up`. `bench/reference/sd_lora_diffusers.py` checks both against diffusers.

use std::collections::BTreeMap;

use crate::StageError;
use crate::classifiers::pretrained::{RawTensor, parse, serialize};

pub const DIFFUSERS_LORA_FILE: &str = "pytorch_lora_weights.safetensors";

/// Our adapter factors of one linear weight W [in, out] (Burn's layout):
/// `<module>.weight.lora.a` A [in, r] and `….lora.b` B [r, out], ΔW = scale·A·B.
const A_SUFFIX: &str = ".weight.lora.a";
const B_SUFFIX: &str = ".weight.lora.b";

/// diffusers' file for the adapter factors in `adapters` (safetensors bytes from
/// `lora::adapter_bytes` of the U-Net) trained with factor scale `scale` (α/r).
pub fn diffusers_lora_tensors(adapters: &[u8], scale: f64) -> Result<Vec<u8>, StageError> {
    let convert_err = |reason: String| StageError::SaveWeights {
        path: DIFFUSERS_LORA_FILE.into(),
        reason,
    };
    let tensors = parse(adapters).map_err(convert_err)?;
    let mut out = BTreeMap::new();
    for (name, a) in &tensors {
        let Some(module) = name.strip_suffix(A_SUFFIX) else {
            if name.ends_with(B_SUFFIX) {
                continue;
            }
            return Err(convert_err(format!("unexpected adapter tensor `{name}`")));
        };
        let b = tensors
            .get(&format!("{module}{B_SUFFIX}"))
            .ok_or_else(|| convert_err(format!("`{name}` has no B factor")))?;
        let (&[inputs, rank], &[rank_b, outputs]) = (a.shape.as_slice(), b.shape.as_slice()) else {
            return Err(convert_err(format!(
                "`{module}`: factors of shapes {:?} and {:?} are not a linear layer's",
                a.shape, b.shape
            )));
        };
        if rank != rank_b {
            return Err(convert_err(format!(
                "`{module}`: ranks {rank} and {rank_b} differ"
            )));
        }
        out.insert(
            format!("unet.{module}.lora.down.weight"),
            transpose(&a.values, inputs, rank, 1.0),
        );
        out.insert(
            format!("unet.{module}.lora.up.weight"),
            transpose(&b.values, rank, outputs, scale as f32),
        );
    }
    Ok(serialize(&out))
}

/// `values` [rows, cols] transposed to [cols, rows], times `scale`.
fn transpose(values: &[f32], rows: usize, cols: usize, scale: f32) -> RawTensor {
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c] * scale;
        }
    }
    RawTensor {
        shape: vec![cols, rows],
        values: out,
    }
}
