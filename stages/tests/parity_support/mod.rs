//! Shared by the parity tests against the Python references of `bench/reference/` (timm,
//! pytorch-fid, diffusers and transformers): the checksum of a formula fill, the
//! scripts' crossed-sine test image, and the comparison of our values with a script's
//! summary of the same values.

#![allow(dead_code)] // each test binary uses a subset

use augflow_stages::metrics::quality::inception::test_weights::{TestTensor, TestValues};
use serde_json::Value;

/// A fraction of the largest reference value. The scripts' own f32 runs are within a few
/// 1e-6 of their f64 runs (each prints it; each test's docs give its figure); flex sums
/// in other orders.
pub const TOLERANCE: f64 = 1e-5;

/// The checksum the scripts print of a fill: the number of float tensors, their element
/// count and the sum of their f32 bit patterns (order-free, so it pins every bit of
/// every value). Integer tensors are not counted.
pub fn fill_checksum(tensors: &[TestTensor]) -> [u64; 3] {
    let mut sums = [0u64; 3];
    for tensor in tensors {
        if let TestValues::F32(values) = &tensor.values {
            sums[0] += 1;
            sums[1] += values.len() as u64;
            sums[2] += values.iter().map(|v| u64::from(v.to_bits())).sum::<u64>();
        }
    }
    sums
}

/// `sums` ([`fill_checksum`]) equals the script's `fill` record under `reference`.
pub fn assert_fill(sums: [u64; 3], reference: &Value) {
    let fill = &reference["fill"];
    assert_eq!(
        sums,
        ["tensors", "elements", "bit_sum"].map(|k| fill[k].as_u64().unwrap()),
        "the fill (tensors, elements, f32 bit sum) differs from the script's"
    );
}

/// The scripts' `image`: a `width`×`height` 8-bit grayscale image of crossed sines,
/// row-major.
pub fn crossed_sines(width: usize, height: usize, a: f64, b: f64, c: f64) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let (x, y) = (x as f64, y as f64);
            let v = 0.5
                + 0.35 * (a * x + b * y).sin() * (c * y - 0.05 * x).cos()
                + 0.1 * (0.3 * x * y / width as f64).cos();
            pixels.push((255.0 * v.clamp(0.0, 1.0) + 0.5).floor() as u8);
        }
    }
    pixels
}

/// A batch's values, flat and in f32, split into its `items` equal parts in f64: one
/// per image, prompt, …, as the scripts summarise them.
pub fn per_item(values: &[f32], items: usize) -> Vec<Vec<f64>> {
    assert_eq!(
        values.len() % items,
        0,
        "{} values in {items} items",
        values.len()
    );
    values
        .chunks(values.len() / items)
        .map(|item| item.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

/// `message` (a refusal) contains every one of `needles`; the failure names the one it
/// lacks.
pub fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(message.contains(needle), "no {needle:?} in: {message}");
    }
}

/// Compares `ours` with the script's summary of the same values: the mean, L2 norm and
/// largest |value| of all of them, and the values listed under `first` (the first 8 or
/// 16), each within [`TOLERANCE`] of the largest |value|.
pub fn check_summary(what: &str, ours: &[f64], reference: &Value, first: &str) {
    check_summary_at(what, ours, reference, &[(first, 0)]);
}

/// [`check_summary`] where the script listed several runs of values: each `(key, start)`
/// names a list in `reference` and where it starts in `ours`.
pub fn check_summary_at(what: &str, ours: &[f64], reference: &Value, listed: &[(&str, usize)]) {
    let num = |k: &str| {
        reference[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: no number {k:?} in the reference"))
    };
    let max = num("max_abs");
    let mean = ours.iter().sum::<f64>() / ours.len() as f64;
    let l2 = ours.iter().map(|v| v * v).sum::<f64>().sqrt();
    let our_max = ours.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    eprintln!(
        "{what}: mean {mean:.6e} ({:.6e}), l2 {l2:.6e} ({:.6e}), max {our_max:.6e} ({max:.6e})",
        num("mean"),
        num("l2")
    );
    for &(key, start) in listed {
        let expected: Vec<f64> = reference[key]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no list {key:?} in the reference"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let run = &ours[start..start + expected.len()];
        let worst = run
            .iter()
            .zip(&expected)
            .map(|(o, e)| (o - e).abs() / max)
            .fold(0.0, f64::max);
        eprintln!("{what}: {key} worst {worst:.2e} of max");
        assert!(
            worst <= TOLERANCE,
            "{what}: {key} differ by {worst:e} of max: ours {run:?}, expected {expected:?}"
        );
    }
    assert!(
        (mean - num("mean")).abs() <= TOLERANCE * max,
        "{what} mean {mean}, expected {}",
        num("mean")
    );
    assert!(
        (l2 - num("l2")).abs() <= TOLERANCE * num("l2"),
        "{what} l2 {l2}, expected {}",
        num("l2")
    );
    assert!(
        (our_max - max).abs() <= TOLERANCE * max,
        "{what} max |value| {our_max}, expected {max}"
    );
}
