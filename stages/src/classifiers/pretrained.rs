//! Loading ImageNet weights into a fresh classifier.
//!
//! Accepts safetensors files with timm's names (`resnet50`, `efficientnet_b0/b1`,
//! `convnext_tiny/small`) or our own (a previous run's `model.safetensors`). The file is
//! rewritten in memory before burn-store sees it: names are mapped to ours, a 3-channel
//! stem is summed into our 1-channel one (timm's `adapt_input_conv`), half precision is
//! widened to f32, and the classification head is dropped (it is trained from scratch).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use serde_json::{Map, Value, json};

use super::config::Architecture;
use super::model::Classifier;
use crate::StageError;

/// One tensor of a safetensors file, widened to f32.
pub(crate) struct RawTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Loads the backbone weights in `path` into `model`. Every backbone tensor of the model
/// must be present; only the head may be left at its initial values.
pub fn load_pretrained(
    model: Classifier,
    architecture: Architecture,
    in_channels: usize,
    path: &Path,
) -> Result<Classifier, StageError> {
    let load_err = |reason: String| StageError::LoadWeights {
        path: path.to_owned(),
        reason,
    };
    let bytes = fs::read(path).map_err(|source| StageError::Read {
        path: path.to_owned(),
        source,
    })?;
    let tensors = parse(&bytes).map_err(load_err)?;
    // Our own files name BatchNorm/LayerNorm parameters gamma/beta; timm's weight/bias.
    let ours = tensors.keys().any(|name| name.ends_with(".beta"));
    let mut renamed = BTreeMap::new();
    for (name, mut tensor) in tensors {
        let target = if ours {
            Some(name).filter(|n| !is_our_head(n))
        } else {
            timm_to_ours(architecture, &name)
        };
        let Some(target) = target else { continue };
        if is_stem_weight(&target) && tensor.shape.get(1) != Some(&in_channels) {
            tensor = sum_input_channels(tensor, in_channels).map_err(load_err)?;
        }
        renamed.insert(target, tensor);
    }
    // No validation inside burn-store: it would stop at the first shape mismatch; the
    // check below reports every mismatch, missing and unused tensor at once.
    let mut store = SafetensorsStore::from_bytes(Some(serialize(&renamed)))
        .skip_enum_variants(true)
        .validate(false)
        .allow_partial(true);
    if !ours {
        store = store.with_from_adapter(PyTorchToBurnAdapter);
    }
    let mut model = model;
    let result = model
        .load_from(&mut store)
        .map_err(|err| load_err(err.to_string()))?;
    let missing: Vec<&str> = result
        .missing
        .iter()
        .map(|(p, _)| p.as_str())
        .filter(|p| !is_our_head(p))
        .collect();
    if !result.errors.is_empty() || !missing.is_empty() || !result.unused.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(|e| format!("{e:?}")).collect();
        return Err(load_err(format!(
            "it does not fit {}: errors {errors:?}, missing {missing:?}, unused {:?}",
            architecture.name(),
            result.unused
        )));
    }
    Ok(model)
}

/// Our head parameters, always trained from scratch.
fn is_our_head(name: &str) -> bool {
    ["fc.", "classifier.", "head_fc."]
        .iter()
        .any(|head| name.starts_with(head))
}

fn is_stem_weight(name: &str) -> bool {
    matches!(
        name,
        "conv1.weight" | "conv_stem.weight" | "stem_conv.weight"
    )
}

/// Maps a timm parameter name to ours; `None` for what we do not load (the head,
/// BatchNorm's `num_batches_tracked`).
pub(super) fn timm_to_ours(architecture: Architecture, name: &str) -> Option<String> {
    if name.ends_with("num_batches_tracked") {
        return None;
    }
    match architecture {
        Architecture::ResNet50 => {
            if name.starts_with("fc.") {
                return None;
            }
            Some(
                name.replace(".downsample.0.", ".downsample.conv.")
                    .replace(".downsample.1.", ".downsample.bn."),
            )
        }
        Architecture::EfficientNetB0 | Architecture::EfficientNetB1 => {
            if name.starts_with("classifier.") {
                return None;
            }
            let parts: Vec<&str> = name.splitn(5, '.').collect();
            match parts.as_slice() {
                ["blocks", stage, block, layer, rest] => {
                    // The first stage has no expansion, so its bn1/bn2 are the depthwise and
                    // projection norms; elsewhere bn1..bn3 are expansion, depthwise, projection.
                    let first = *stage == "0";
                    let ours = match (*layer, first) {
                        ("conv_pw", false) => "expand_conv",
                        ("bn1", false) => "expand_bn",
                        ("conv_dw", _) => "dw_conv",
                        ("bn1", true) | ("bn2", false) => "dw_bn",
                        ("conv_pw", true) | ("conv_pwl", false) => "project_conv",
                        ("bn2", true) | ("bn3", false) => "project_bn",
                        _ => layer,
                    };
                    Some(format!("blocks.{stage}.{block}.{ours}.{rest}"))
                }
                _ => Some(name.to_owned()),
            }
        }
        Architecture::ConvNextTiny | Architecture::ConvNextSmall => {
            if name.starts_with("head.fc.") {
                return None;
            }
            let name = name
                .replace("stem.0.", "stem_conv.")
                .replace("stem.1.", "stem_norm.")
                .replace(".downsample.0.", ".downsample.norm.")
                .replace(".downsample.1.", ".downsample.conv.")
                .replace("head.norm.", "head_norm.");
            Some(name)
        }
    }
}

/// Sums an RGB stem's weights over the input channels (for 1 channel), as timm does
/// when a model pretrained on colour images is given grayscale input.
fn sum_input_channels(tensor: RawTensor, in_channels: usize) -> Result<RawTensor, String> {
    let [out, inp, kh, kw] = tensor.shape[..] else {
        return Err(format!("stem weight has shape {:?}", tensor.shape));
    };
    if in_channels != 1 {
        return Err(format!(
            "stem has {inp} input channels; only 1-channel models can be adapted"
        ));
    }
    let k = kh * kw;
    let mut values = vec![0.0; out * k];
    for o in 0..out {
        for i in 0..inp {
            for j in 0..k {
                values[o * k + j] += tensor.values[(o * inp + i) * k + j];
            }
        }
    }
    Ok(RawTensor {
        shape: vec![out, 1, kh, kw],
        values,
    })
}

/// Parses a safetensors file (8-byte little-endian header length, JSON header, data).
/// Float tensors only (F32, F16, BF16 widened to f32); integer ones are skipped.
pub(crate) fn parse(bytes: &[u8]) -> Result<BTreeMap<String, RawTensor>, String> {
    let too_short = || {
        format!(
            "the file is truncated or not safetensors: {} bytes, too short for the header it announces",
            bytes.len()
        )
    };
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .ok_or_else(too_short)?
        .try_into()
        .map_err(|_| too_short())?;
    let header_len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| too_short())?;
    let header_end = header_len.checked_add(8).ok_or_else(too_short)?;
    let header = bytes.get(8..header_end).ok_or_else(too_short)?;
    let data = &bytes[header_end..];
    let header: Map<String, Value> =
        serde_json::from_slice(header).map_err(|err| format!("bad safetensors header: {err}"))?;
    let mut out = BTreeMap::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let bad = || format!("bad safetensors entry for {name}");
        let dtype = info["dtype"].as_str().ok_or_else(bad)?;
        let shape: Vec<usize> = info["shape"]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let offsets = info["data_offsets"].as_array().ok_or_else(bad)?;
        let (start, end) = match offsets.as_slice() {
            [a, b] if a.as_u64() <= b.as_u64() => (
                a.as_u64().ok_or_else(bad)? as usize,
                b.as_u64().ok_or_else(bad)? as usize,
            ),
            _ => return Err(bad()),
        };
        let raw = data.get(start..end).ok_or_else(|| {
            format!(
                "the file is truncated: tensor {name} needs data bytes {start}..{end}, only {} are there",
                data.len()
            )
        })?;
        let values: Vec<f32> = match dtype {
            "F32" => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            "F16" => raw
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            "BF16" => raw
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
            // Integer buffers (e.g. num_batches_tracked) are never loaded.
            _ => continue,
        };
        // Checked: a crafted header's shape must not overflow (a panic in debug builds).
        let elements = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(bad)?;
        if values.len() != elements {
            return Err(bad());
        }
        out.insert(name, RawTensor { shape, values });
    }
    Ok(out)
}

/// IEEE 754 half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let shift = frac.leading_zeros() - 21;
            let frac = (frac << shift) & 0x3ff;
            sign | ((113 - shift) << 23) | (frac << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// Writes tensors as an f32 safetensors file, in name order.
pub(crate) fn serialize(tensors: &BTreeMap<String, RawTensor>) -> Vec<u8> {
    let mut header = Map::new();
    let mut offset = 0usize;
    for (name, tensor) in tensors {
        let len = tensor.values.len() * 4;
        header.insert(
            name.clone(),
            json!({"dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    let mut header = Value::Object(header).to_string().into_bytes();
    // Pad the header so the data starts 8-byte aligned, as the format recommends.
    while !(header.len() + 8).is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for tensor in tensors.values() {
        for v in &tensor.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timm_names_map_to_ours() {
        let cases = [
            (
                Architecture::ResNet50,
                "layer2.0.downsample.0.weight",
                Some("layer2.0.downsample.conv.weight"),
            ),
            (
                Architecture::ResNet50,
                "layer2.0.downsample.1.running_var",
                Some("layer2.0.downsample.bn.running_var"),
            ),
            (
                Architecture::ResNet50,
                "layer1.0.bn1.num_batches_tracked",
                None,
            ),
            (Architecture::ResNet50, "fc.weight", None),
            (
                Architecture::EfficientNetB0,
                "blocks.0.0.conv_pw.weight",
                Some("blocks.0.0.project_conv.weight"),
            ),
            (
                Architecture::EfficientNetB0,
                "blocks.0.0.bn1.weight",
                Some("blocks.0.0.dw_bn.weight"),
            ),
            (
                Architecture::EfficientNetB0,
                "blocks.3.1.conv_pw.weight",
                Some("blocks.3.1.expand_conv.weight"),
            ),
            (
                Architecture::EfficientNetB0,
                "blocks.3.1.bn3.bias",
                Some("blocks.3.1.project_bn.bias"),
            ),
            (
                Architecture::EfficientNetB1,
                "blocks.5.0.se.conv_reduce.bias",
                Some("blocks.5.0.se.conv_reduce.bias"),
            ),
            (
                Architecture::EfficientNetB0,
                "conv_head.weight",
                Some("conv_head.weight"),
            ),
            (Architecture::EfficientNetB0, "classifier.weight", None),
            (
                Architecture::ConvNextTiny,
                "stem.0.weight",
                Some("stem_conv.weight"),
            ),
            (
                Architecture::ConvNextTiny,
                "stages.1.downsample.0.bias",
                Some("stages.1.downsample.norm.bias"),
            ),
            (
                Architecture::ConvNextSmall,
                "stages.2.blocks.20.mlp.fc1.weight",
                Some("stages.2.blocks.20.mlp.fc1.weight"),
            ),
            (
                Architecture::ConvNextTiny,
                "head.norm.weight",
                Some("head_norm.weight"),
            ),
            (Architecture::ConvNextTiny, "head.fc.bias", None),
        ];
        for (arch, timm, ours) in cases {
            assert_eq!(timm_to_ours(arch, timm).as_deref(), ours, "{timm}");
        }
    }

    #[test]
    fn safetensors_round_trip_and_half_precision() {
        let mut tensors = BTreeMap::new();
        tensors.insert(
            "a.weight".to_owned(),
            RawTensor {
                shape: vec![2, 3],
                values: vec![1.0, -2.0, 0.5, 0.0, 3.25, -0.125],
            },
        );
        let parsed = parse(&serialize(&tensors)).unwrap();
        assert_eq!(parsed["a.weight"].shape, [2, 3]);
        assert_eq!(parsed["a.weight"].values, tensors["a.weight"].values);
        assert!(parse(b"short").is_err());
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn a_shape_whose_size_overflows_is_an_error_not_a_panic() {
        let header =
            br#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,4]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0; 4]);
        let Err(err) = parse(&bytes) else {
            panic!("an overflowing shape was accepted");
        };
        assert!(err.contains("bad safetensors entry for w"), "{err}");
    }

    #[test]
    fn stem_is_summed_over_colour_channels() {
        let rgb = RawTensor {
            shape: vec![1, 3, 1, 2],
            values: vec![1.0, 2.0, 10.0, 20.0, 100.0, 200.0],
        };
        let gray = sum_input_channels(rgb, 1).unwrap();
        assert_eq!(gray.shape, [1, 1, 1, 2]);
        assert_eq!(gray.values, [111.0, 222.0]);
    }
}
