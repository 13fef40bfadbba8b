//! Shared by the SD parity tests: the weight formula of `bench/reference/sd_reference.py`,
//! its reference files, and the comparison of batched outputs with their summaries (the
//! comparison itself is [`crate::parity_support`]'s, which every SD test binary declares).

#![allow(dead_code)] // each test binary uses a subset

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use augflow_stages::metrics::quality::inception::test_weights::{
    TestTensor, TestValues, fnv1a64, unit_value, write_safetensors,
};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

use crate::parity_support::{assert_fill, check_summary, fill_checksum, per_item};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sd");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

pub fn json(name: &str) -> Value {
    read_json(&fixture(name))
}

pub fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Writes `base` (a JSON object: a config) to `path` with each key of `changes` set to
/// its value there.
pub fn write_changed_config(path: &Path, base: &Value, changes: &Value) {
    let mut config = base.clone();
    for (key, value) in changes.as_object().unwrap() {
        config[key] = value.clone();
    }
    fs::write(path, config.to_string()).unwrap();
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
    let filled: Vec<TestTensor> = tensors
        .iter()
        .map(|(name, shape)| TestTensor {
            name: name.clone(),
            shape: shape.clone(),
            values: TestValues::F32(fill_value(name.strip_prefix(strip).unwrap_or(name), shape)),
        })
        .collect();
    write_safetensors(path, &filled).unwrap();
    fill_checksum(&filled)
}

/// [`write_filled`] into `file_name` in a new temp dir, checking the fill against the
/// script's (`reference["fill"]`); returns the dir (keep it alive) and the file's path.
pub fn write_checked_fill(
    tensors: &BTreeMap<String, Vec<usize>>,
    strip: &str,
    file_name: &str,
    reference: &Value,
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name);
    assert_fill(write_filled(tensors, strip, &path), reference);
    (dir, path)
}

/// Compares each batch item of `out` with the script's summaries (mean, L2 norm,
/// largest |value|, first 16 values).
pub fn check_batch<const D: usize>(what: &str, out: Tensor<D>, expected: &Value) {
    let expected = expected.as_array().unwrap();
    let values = out.try_into_vec_as::<f32>().unwrap();
    for (i, (ours, reference)) in per_item(&values, expected.len())
        .iter()
        .zip(expected)
        .enumerate()
    {
        check_summary(&format!("{what} {i}"), ours, reference, "first16");
    }
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
