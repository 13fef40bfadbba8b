//! Formula-filled weight files for tests (the real weights cannot be bundled or
//! downloaded in tests). The formula is the one `bench/reference/inception_reference.py`
//! fills pytorch-fid's network with, so the pinned reference features apply; both compute
//! in f64 with exact or correctly rounded steps and round once to f32, so the weights
//! agree bit for bit.

use std::fs;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::expected_tensors;
use crate::StageError;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// FNV-1a 64 of `text`: seeds [`unit_value`] per tensor name.
pub fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, byte| {
        (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Element `index` of tensor `name` in [-1, 1): splitmix64 seeded by the name's hash.
/// Shared by every formula fill (the timm and Stable Diffusion parity tests too).
pub fn unit_value(hash: u64, index: u64) -> f64 {
    let mut z = hash.wrapping_add((index + 1).wrapping_mul(GOLDEN));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 * 2f64.powi(-53) * 2.0 - 1.0
}

/// The values of tensor `name` (a pytorch-fid state-dict name) of `shape`. Convolution
/// weights are He-uniform for their fan-in; BatchNorm scales lie in [0.75, 1.25],
/// variances in [0.5, 1.5], shifts and means in [-0.1, 0.1], so activations stay of
/// order one through the whole network.
///
/// # Panics
/// On a name outside the FID Inception's state dict.
pub fn fill_value(name: &str, shape: &[usize]) -> Vec<f32> {
    let hash = fnv1a64(name);
    let n: usize = shape.iter().product();
    let fan_in: usize = shape.iter().skip(1).product();
    let map: Box<dyn Fn(f64) -> f64> = if name.ends_with(".conv.weight") {
        let scale = (6.0 / fan_in as f64).sqrt();
        Box::new(move |s| s * scale)
    } else if name.ends_with(".bn.weight") {
        Box::new(|s| 1.0 + 0.25 * s)
    } else if name.ends_with(".bn.running_var") {
        Box::new(|s| 1.0 + 0.5 * s)
    } else if name.ends_with(".bn.bias") || name.ends_with(".bn.running_mean") {
        Box::new(|s| 0.1 * s)
    } else if name == "fc.weight" || name == "fc.bias" {
        Box::new(|s| 0.01 * s)
    } else {
        panic!("no formula for tensor {name}");
    };
    (0..n as u64)
        .map(|i| map(unit_value(hash, i)) as f32)
        .collect()
}

/// One tensor of a test file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: TestValues,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestValues {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// What a conversion of a filled `pt_inception` state dict holds: every tensor the
/// network loads, the 1008-class head, and each BatchNorm's `num_batches_tracked`.
pub fn filled_tensors() -> Vec<TestTensor> {
    let mut out = Vec::new();
    for (name, shape) in expected_tensors() {
        if let Some(layer) = name.strip_suffix(".bn.running_var") {
            out.push(TestTensor {
                name: format!("{layer}.bn.num_batches_tracked"),
                shape: Vec::new(),
                values: TestValues::I64(vec![0]),
            });
        }
        out.push(TestTensor {
            values: TestValues::F32(fill_value(&name, &shape)),
            name,
            shape,
        });
    }
    for (name, shape) in [("fc.weight", vec![1008, 2048]), ("fc.bias", vec![1008])] {
        out.push(TestTensor {
            name: name.to_owned(),
            values: TestValues::F32(fill_value(name, &shape)),
            shape,
        });
    }
    out
}

/// Writes `tensors` as a safetensors file (the layout `safetensors.torch.save_file`
/// writes).
pub fn write_safetensors(path: &Path, tensors: &[TestTensor]) -> Result<(), StageError> {
    let mut header = Map::new();
    header.insert("__metadata__".to_owned(), json!({"format": "pt"}));
    let mut data = Vec::new();
    for tensor in tensors {
        let start = data.len();
        let dtype = match &tensor.values {
            TestValues::F32(values) => {
                data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
                "F32"
            }
            TestValues::I64(values) => {
                data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
                "I64"
            }
        };
        header.insert(
            tensor.name.clone(),
            json!({"dtype": dtype, "shape": tensor.shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut header = Value::Object(header).to_string().into_bytes();
    while !(header.len() + 8).is_multiple_of(8) {
        header.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + header.len() + data.len());
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&data);
    fs::write(path, bytes).map_err(|source| StageError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Writes the formula-filled FID Inception weights to `path` (about 95 MB).
pub fn write_filled_weights(path: &Path) -> Result<(), StageError> {
    write_safetensors(path, &filled_tensors())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_stream_are_the_standard_ones() {
        // FNV-1a 64 test vectors, and splitmix64's first output for seed 0.
        assert_eq!(fnv1a64(""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xAF63_DC4C_8601_EC8C);
        let first = unit_value(0, 0);
        let expected = (0xE220_A839_7B1D_CDAF_u64 >> 11) as f64 * 2f64.powi(-53) * 2.0 - 1.0;
        assert_eq!(first, expected);
    }
}
