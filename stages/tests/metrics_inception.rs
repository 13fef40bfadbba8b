//! The FID Inception-v3 against pytorch-fid, on formula-filled weights (the real ones
//! cannot be downloaded in tests), through the real loader; and the loader's errors.
//!
//! Reference values are in `reference/inception.json`, written by
//!     ~/.cache/augflow-bench/torch-venv/bin/python bench/reference/inception_reference.py
//! (its versions are in the file: torch 2.15.0, torchvision 0.29.2, pytorch-fid 0.3.0,
//! numpy 2.4.6 on the CPU): the script builds pytorch-fid's own `InceptionV3`
//! (`fid_inception_v3`, only the weight download replaced), fills every parameter and
//! buffer with the formula of
//! `augflow_stages::metrics::quality::inception::test_weights::fill_value`, and runs the
//! three images of [`image`] in float64. Change a formula on one side only and
//! `weights_are_the_reference_fill` or the pixel sums fail first.
//!
//! Tolerance: pytorch-fid's own float32 run differs from its float64 run by at most
//! 9.2e-7 of a block's largest value (the script prints it). Burn's flex backend sums in
//! other orders and BatchNorm is folded into the convolutions here, which adds a rounding
//! or two per layer; we allow 1e-5 of the largest value (about 10× PyTorch's own f32
//! error; seen on flex: at most 1.3e-7 on the pool3 features, 4e-7 on a block's maximum,
//! which the script prints to 7 digits). A real architecture slip is far larger: average
//! instead of max pooling in Mixed_7c alone moves the pool3 mean by 3%.

mod parity_support;

use augflow_stages::metrics::quality::GrayImage;
use augflow_stages::metrics::quality::inception::test_weights::{
    TestTensor, TestValues, filled_tensors, write_safetensors,
};
use augflow_stages::metrics::quality::inception::{FEATURE_DIM, FidInception, expected_tensors};
use burn::tensor::Device;
use parity_support::{assert_mentions, crossed_sines, fill_checksum};
use serde::Deserialize;

/// A fraction of the largest reference value: see the module docs.
const TOLERANCE: f64 = 1e-5;

/// An 8-bit grayscale image of crossed sines; `image` in the Python script.
fn image(width: usize, height: usize, a: f64, b: f64, c: f64) -> (GrayImage, u64) {
    let pixels = crossed_sines(width, height, a, b, c);
    let sum = pixels.iter().map(|&p| u64::from(p)).sum();
    (GrayImage::from_u8(width, height, &pixels).unwrap(), sum)
}

/// What the reference script pinned (`reference/inception.json`).
#[derive(Deserialize)]
struct Pinned {
    /// The fill's checksum: tensor count, element count and the sum of the f32 bit
    /// patterns (order-free, so it pins every bit of every value).
    weights: FillChecksum,
    images: Vec<Reference>,
}

#[derive(Deserialize)]
struct FillChecksum {
    tensors: u64,
    elements: u64,
    bit_sum: u64,
}

/// One image's reference: its formula (width, height, a, b, c), pixel sum, per-block
/// statistics and the first 16 pool3 features.
#[derive(Deserialize)]
struct Reference {
    image: (usize, usize, f64, f64, f64),
    pixel_sum: u64,
    blocks: [BlockStats; 4],
    first16: [f64; 16],
}

#[derive(Deserialize)]
struct BlockStats {
    mean: f64,
    l2: f64,
    max_abs: f64,
}

fn pinned() -> Pinned {
    serde_json::from_str(include_str!("reference/inception.json")).expect("valid reference JSON")
}

fn reference_images(references: &[Reference]) -> Vec<GrayImage> {
    references
        .iter()
        .map(|r| {
            let (w, h, a, b, c) = r.image;
            let (image, sum) = image(w, h, a, b, c);
            assert_eq!(
                sum, r.pixel_sum,
                "pixels of the {w}x{h} image differ from Python's"
            );
            image
        })
        .collect()
}

fn mean_and_norm(values: &[f32]) -> (f64, f64) {
    let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
    let squares: f64 = values.iter().map(|&v| f64::from(v).powi(2)).sum();
    (sum / values.len() as f64, squares.sqrt())
}

/// Largest |ours − reference| as a fraction of `scale`.
fn worst(ours: &[f32], reference: &[f64], scale: f64) -> f64 {
    ours.iter()
        .zip(reference)
        .map(|(&a, &b)| (f64::from(a) - b).abs() / scale)
        .fold(0.0, f64::max)
}

#[test]
fn weights_are_the_reference_fill() {
    // pytorch-fid's state dict, fc included.
    let FillChecksum {
        tensors,
        elements,
        bit_sum,
    } = pinned().weights;
    assert_eq!(
        fill_checksum(&filled_tensors()),
        [tensors, elements, bit_sum]
    );
    assert_eq!(
        expected_tensors().len(),
        5 * 94,
        "five tensors per BasicConv2d"
    );
}

#[test]
fn inception_features_match_pytorch_fid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fid_inception.safetensors");
    write_safetensors(&path, &filled_tensors()).unwrap();
    let net = FidInception::load(&path, &Device::flex()).unwrap();
    let references = pinned().images;
    let images = reference_images(&references);

    // Every block of the first image: a wrong layer shows up where it happens.
    let blocks = net.block_outputs(&images[0]).unwrap();
    for (i, (ours, block)) in blocks.iter().zip(&references[0].blocks).enumerate() {
        let &BlockStats {
            mean,
            l2: norm,
            max_abs: max,
        } = block;
        let (our_mean, our_norm) = mean_and_norm(ours);
        let our_max = ours.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        eprintln!(
            "block {i}: mean {our_mean:.9e} ({mean:.9e}), l2 {our_norm:.9e} ({norm:.9e}), max {our_max:.6e} ({max:.6e})"
        );
        assert!((our_mean - mean).abs() <= TOLERANCE * max, "block {i} mean");
        assert!(
            (our_norm - norm).abs() <= TOLERANCE * norm,
            "block {i} l2 norm"
        );
        assert!(
            (f64::from(our_max) - max).abs() <= TOLERANCE * max,
            "block {i} max"
        );
    }

    // pool3 features of all three images in one batch (the path score.quality takes).
    let features = net.features(&images).unwrap();
    assert_eq!(features.len(), 3);
    for (ours, reference) in features.iter().zip(&references) {
        let (w, h, ..) = reference.image;
        assert_eq!(ours.len(), FEATURE_DIM);
        let BlockStats {
            mean,
            l2: norm,
            max_abs: max,
        } = reference.blocks[3];
        let (our_mean, our_norm) = mean_and_norm(ours);
        let error = worst(&ours[..16], &reference.first16, max);
        eprintln!(
            "{w}x{h}: first16 worst {error:.2e} of max, mean {our_mean:.9e} ({mean:.9e}), l2 {our_norm:.9e} ({norm:.9e})"
        );
        assert!(
            error <= TOLERANCE,
            "{w}x{h} first 16 features: {:?}",
            &ours[..16]
        );
        assert!((our_mean - mean).abs() <= TOLERANCE * max, "{w}x{h} mean");
        assert!(
            (our_norm - norm).abs() <= TOLERANCE * norm,
            "{w}x{h} l2 norm"
        );
    }
    // The batch path and the one-image path agree (batching must not mix images).
    let single = &blocks[3];
    assert!(
        worst(
            single,
            &features[0]
                .iter()
                .map(|&v| f64::from(v))
                .collect::<Vec<_>>(),
            1.0
        ) < 1e-5
    );
}

#[test]
fn inception_loader_names_every_bad_tensor_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let mut tensors: Vec<TestTensor> = filled_tensors()
        .into_iter()
        .filter(|t| t.name != "Mixed_6c.branch7x7dbl_4.bn.running_var")
        .collect();
    for tensor in &mut tensors {
        match tensor.name.as_str() {
            // A transposed 1×7 kernel, and torchvision's 1000-class head.
            "Mixed_6b.branch7x7_2.conv.weight" => tensor.shape = vec![128, 128, 7, 1],
            "fc.weight" => {
                tensor.shape = vec![1000, 2048];
                tensor.values = TestValues::F32(vec![0.0; 1000 * 2048]);
            }
            _ => {}
        }
    }
    tensors.push(TestTensor {
        name: "AuxLogits.fc.bias".to_owned(),
        shape: vec![1000],
        values: TestValues::F32(vec![0.0; 1000]),
    });
    write_safetensors(&path, &tensors).unwrap();
    let Err(err) = FidInception::load(&path, &Device::flex()) else {
        panic!("a bad file loaded");
    };
    assert_mentions(
        &err.to_string(),
        &[
            path.display().to_string().as_str(),
            "1 missing tensors: `Mixed_6c.branch7x7dbl_4.bn.running_var`",
            "`Mixed_6b.branch7x7_2.conv.weight` has shape [128, 128, 7, 1], expected [128, 128, 1, 7]",
            "`fc.weight` has shape [1000, 2048], pt_inception-2015-12-05 has [1008, 2048]",
            "1 unexpected tensors: `AuxLogits.fc.bias`",
        ],
    );

    let absent = dir.path().join("absent.safetensors");
    let Err(err) = FidInception::load(&absent, &Device::flex()) else {
        panic!("a missing file loaded");
    };
    assert!(err.to_string().contains("absent.safetensors"), "{err}");
    std::fs::write(&path, b"not safetensors").unwrap();
    let Err(err) = FidInception::load(&path, &Device::flex()) else {
        panic!("a garbage file loaded");
    };
    assert!(err.to_string().contains("bad.safetensors"), "{err}");
}

/// With the real weights: `AUGFLOW_FID_WEIGHTS=<converted pt_inception file> cargo nextest
/// run --workspace --run-ignored only -E 'test(real_fid_weights)'`. No reference values
/// (pytorch-fid's own features of these images would be the next step); it checks that
/// the file loads and gives finite, non-negative (post-ReLU mean) features.
#[test]
#[ignore = "needs the converted pt_inception-2015-12-05 weights in AUGFLOW_FID_WEIGHTS"]
fn real_fid_weights_load_and_give_finite_features() {
    let path = std::env::var_os("AUGFLOW_FID_WEIGHTS").expect("set AUGFLOW_FID_WEIGHTS");
    let net = FidInception::load(std::path::Path::new(&path), &Device::flex()).unwrap();
    let features = net.features(&reference_images(&pinned().images)).unwrap();
    for row in &features {
        assert_eq!(row.len(), FEATURE_DIM);
        assert!(row.iter().all(|v| v.is_finite() && *v >= 0.0));
    }
    assert_ne!(
        features[0], features[1],
        "different images, different features"
    );
}
