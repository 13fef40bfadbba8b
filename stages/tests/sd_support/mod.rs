//! Shared by the SD parity tests: the weight formula of `bench/reference/sd_reference.py`,
//! its reference files, and the comparison of outputs with their summaries.

#![allow(dead_code)] // each test binary uses a subset

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use augflow_stages::metrics::quality::inception::test_weights::{
    TestTensor, TestValues, fnv1a64, unit_value, write_safetensors,
};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sd");
/// A fraction of the largest reference value; the script's own f32 runs are within
/// 1.3e-6 of its f64 runs (it prints each).
pub const TOLERANCE: f64 = 1e-5;

pub fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(FIXTURES).join(name)
}

pub fn json(name: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// The script's `fill_value`: f64, rounded once to f32.
pub fn fill_value(name: &str, shape: &[usize]) -> Vec<f32> {
    let hash = fnv1a64(name);
    let n: usize = shape.iter().product();
    let leaf = name.rsplit('.').next().unwrap_or(name);
    let (offset, scale) = if name.ends_with("_embedding.weight") {
        (0.0, 1.0)
    } else if shape.len() >= 2 {
        (
            0.0,
            (3.0 / shape[1..].iter().product::<usize>() as f64).sqrt(),
        )
    } else if leaf == "weight" {
        (1.0, 0.25)
    } else {
        assert_eq!(leaf, "bias", "no formula for {name}");
        (0.0, 0.1)
    };
    (0..n as u64)
        .map(|i| (offset + scale * unit_value(hash, i)) as f32)
        .collect()
}

/// `n` formula values named `name` (the script's `formula_input`) as a tensor.
pub fn formula_tensor<const D: usize>(name: &str, shape: [usize; D]) -> Tensor<D> {
    let hash = fnv1a64(name);
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n as u64).map(|i| unit_value(hash, i) as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), &Device::flex())
}

/// Writes `tensors` (published names → shapes) formula-filled to `path`, each filled
/// under its name with `strip` removed; returns the fill's checksum (count, elements, f32
/// bit sum) to compare with the script's.
pub fn write_filled(tensors: &BTreeMap<String, Vec<usize>>, strip: &str, path: &Path) -> [u64; 3] {
    let mut sums = [0u64; 3];
    let filled: Vec<TestTensor> = tensors
        .iter()
        .map(|(name, shape)| {
            let values = fill_value(name.strip_prefix(strip).unwrap_or(name), shape);
            sums[0] += 1;
            sums[1] += values.len() as u64;
            sums[2] += values.iter().map(|v| u64::from(v.to_bits())).sum::<u64>();
            TestTensor {
                name: name.clone(),
                shape: shape.clone(),
                values: TestValues::F32(values),
            }
        })
        .collect();
    write_safetensors(path, &filled).unwrap();
    sums
}

pub fn assert_fill(sums: [u64; 3], reference: &Value) {
    let fill = &reference["fill"];
    assert_eq!(
        sums,
        ["tensors", "elements", "bit_sum"].map(|k| fill[k].as_u64().unwrap()),
        "the fill differs from the script's"
    );
}

/// Compares each batch item of `out` with the script's summaries (mean, L2 norm,
/// largest |value|, first 16 values).
pub fn check_batch<const D: usize>(what: &str, out: Tensor<D>, expected: &Value) {
    let expected = expected.as_array().unwrap();
    let values = out.try_into_vec_as::<f32>().unwrap();
    let per_item = values.len() / expected.len();
    for (i, reference) in expected.iter().enumerate() {
        let ours: Vec<f64> = values[i * per_item..(i + 1) * per_item]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        check_summary(&format!("{what} {i}"), &ours, reference, "first16");
    }
}

/// Compares `ours` with the script's summary of the same values: its mean, L2 norm and
/// the values listed under `first` (the first 8 or 16), each within [`TOLERANCE`] of the
/// largest |value|.
pub fn check_summary(what: &str, ours: &[f64], reference: &Value, first: &str) {
    let num = |k: &str| reference[k].as_f64().unwrap();
    let max = num("max_abs");
    let mean = ours.iter().sum::<f64>() / ours.len() as f64;
    let l2 = ours.iter().map(|v| v * v).sum::<f64>().sqrt();
    let worst = reference[first]
        .as_array()
        .unwrap()
        .iter()
        .zip(ours)
        .map(|(e, o)| (e.as_f64().unwrap() - o).abs() / max)
        .fold(0.0, f64::max);
    eprintln!(
        "{what}: {first} worst {worst:.2e} of max, mean {mean:.6e} ({:.6e}), l2 {l2:.6e} ({:.6e})",
        num("mean"),
        num("l2")
    );
    assert!(
        worst <= TOLERANCE,
        "{what}: values differ by {worst:e} of max"
    );
    assert!(
        (mean - num("mean")).abs() <= TOLERANCE * max,
        "{what} mean {mean}"
    );
    assert!(
        (l2 - num("l2")).abs() <= TOLERANCE * num("l2"),
        "{what} l2 {l2}"
    );
}

/// A `*.tensors` list the script wrote: `name d0,d1,…` per line.
pub fn tensor_list(name: &str) -> BTreeMap<String, Vec<usize>> {
    fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .map(|line| {
            let (name, dims) = line.split_once(' ').unwrap();
            (
                name.to_owned(),
                dims.split(',').map(|d| d.parse().unwrap()).collect(),
            )
        })
        .collect()
}
