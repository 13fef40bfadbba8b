//! The five classifiers load complete timm ImageNet files and compute what timm computes.
//!
//! The real weights cannot be downloaded in tests, so `bench/reference/timm_reference.py`
//! built each timm model with its full published config, filled every float tensor with
//! the formula of [`fill_value`], adapted the 3-channel stem to one channel with timm's
//! `adapt_input_conv`, and recorded (in `fixtures/timm/`) the state dict's names, dtypes
//! and shapes and, for a batch of two 64×80 grayscale images, the pooled features and
//! logits of a float64 run (timm 1.0.31, torch 2.15.0, numpy 2.4.6 on the CPU).
//!
//! Here the same formula fills a safetensors file with exactly those entries (3-channel
//! stem, 1000-class head, `num_batches_tracked` included, as a converted timm checkpoint
//! has them), augflow's loader loads it into a 1-channel model, and the features must
//! match. The head is never loaded (augflow trains its own), so the logits are timm's
//! filled head applied to our features, in f64.
//!
//! Tolerance: timm's own float32 run differs from its float64 run by at most 1.3e-6 of
//! the largest value (the script prints it per model); flex sums in other orders. We
//! allow 1e-5 of the largest |value|, about 8× PyTorch's own f32 error; a wiring slip is
//! far larger (see the mutations in the report of the commit that added this test).

mod parity_support;

use std::fs;

use augflow_stages::classifiers::{Architecture, Classifier, ModelSpec, load_pretrained};
use augflow_stages::metrics::quality::inception::test_weights::{
    TestTensor, TestValues, fnv1a64, unit_value, write_safetensors,
};
use burn::tensor::{Device, Tensor, TensorData};
use parity_support::{
    assert_fill, assert_mentions, check_summary, crossed_sines, fill_checksum, per_item,
};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/timm");

/// The formula of `fill_value` in the Python script: f64, rounded once to f32.
fn fill_value(name: &str, shape: &[usize]) -> Vec<f32> {
    let hash = fnv1a64(name);
    let n: usize = shape.iter().product();
    let leaf = name.rsplit('.').next().unwrap_or(name);
    let (offset, scale) = if shape.len() >= 2 {
        let fan_in: usize = shape[1..].iter().product();
        (0.0, (6.0 / fan_in as f64).sqrt())
    } else {
        match leaf {
            "gamma" => (0.5, 0.25),
            "running_var" => (1.0, 0.5),
            "weight" => (1.0, 0.25),
            "bias" | "running_mean" => (0.0, 0.1),
            _ => panic!("no formula for {name}"),
        }
    };
    (0..n as u64)
        .map(|i| (offset + scale * unit_value(hash, i)) as f32)
        .collect()
}

/// The timm checkpoint as the script recorded it, formula-filled.
fn timm_tensors(model: &str) -> Vec<TestTensor> {
    let path = format!("{FIXTURES}/{model}.tensors");
    let text = fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let [name, dtype, dims] = fields[..] else {
                panic!("{path}: bad line {line:?}");
            };
            let shape: Vec<usize> = dims
                .split(',')
                .filter(|d| !d.is_empty())
                .map(|d| d.parse().unwrap())
                .collect();
            let values = match dtype {
                "float32" => TestValues::F32(fill_value(name, &shape)),
                "int64" => TestValues::I64(vec![0; shape.iter().product()]),
                _ => panic!("{path}: dtype {dtype}"),
            };
            TestTensor {
                name: name.to_owned(),
                shape,
                values,
            }
        })
        .collect()
}

fn reference() -> Value {
    let path = format!("{FIXTURES}/reference.json");
    serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap()
}

/// The script's two images ([`image`] there): crossed sines quantised to 8 bits, then
/// (x / 255 − 0.5) / 0.25, rounded once to f32. Returns the batch and its f32 bit sum.
fn model_input(reference: &Value) -> (Tensor<4>, u64) {
    let input = &reference["input"];
    let height = input["height"].as_u64().unwrap() as usize;
    let width = input["width"].as_u64().unwrap() as usize;
    let images = input["images"].as_array().unwrap();
    let mut values = Vec::with_capacity(images.len() * height * width);
    for abc in images {
        let [a, b, c] = [0, 1, 2].map(|i| abc[i].as_f64().unwrap());
        let pixels = crossed_sines(width, height, a, b, c);
        values.extend(
            pixels
                .into_iter()
                .map(|p| ((f64::from(p) / 255.0 - 0.5) / 0.25) as f32),
        );
    }
    let bits = values.iter().map(|v| u64::from(v.to_bits())).sum();
    let data = TensorData::new(values, [images.len(), 1, height, width]);
    (Tensor::from_data(data, &Device::flex()), bits)
}

/// Writes the filled timm file, loads it through augflow's loader into a grayscale
/// model and compares features and logits with timm's.
fn timm_parity(architecture: Architecture) {
    let name = architecture.name();
    let reference = reference();
    let expected = &reference["models"][name];
    let tensors = timm_tensors(name);

    // The fill is the script's, bit for bit.
    assert_fill(fill_checksum(&tensors), expected);
    let (x, input_bits) = model_input(&reference);
    assert_eq!(input_bits, reference["input"]["bit_sum"].as_u64().unwrap());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.safetensors"));
    write_safetensors(&path, &tensors).unwrap();
    let spec = ModelSpec {
        in_channels: 1,
        num_classes: 2,
        ..ModelSpec::published(architecture)
    };
    let device = Device::flex();
    let model = Classifier::new(&spec, &device).unwrap().init_seeded(1);
    let model = load_pretrained(model, architecture, 1, &path).unwrap();
    let features = model.features(x).try_into_vec_as::<f32>().unwrap();

    let head = match architecture {
        Architecture::ResNet50 => "fc",
        Architecture::EfficientNetB0 | Architecture::EfficientNetB1 => "classifier",
        Architecture::ConvNextTiny | Architecture::ConvNextSmall => "head.fc",
    };
    let find = |suffix: &str| {
        let tensor = tensors
            .iter()
            .find(|t| t.name == format!("{head}.{suffix}"))
            .unwrap();
        match &tensor.values {
            TestValues::F32(values) => values.clone(),
            TestValues::I64(_) => unreachable!(),
        }
    };
    let (weight, bias) = (find("weight"), find("bias"));
    let classes = bias.len();
    let images = expected["images"].as_array().unwrap();
    let width = features.len() / images.len();
    for (i, (ours, image)) in per_item(&features, images.len())
        .iter()
        .zip(images)
        .enumerate()
    {
        check_summary(
            &format!("{name} image {i} features"),
            ours,
            &image["features"],
            "first16",
        );
        let logits: Vec<f64> = (0..classes)
            .map(|c| {
                let row = &weight[c * width..(c + 1) * width];
                let dot: f64 = row.iter().zip(ours).map(|(&w, f)| f64::from(w) * f).sum();
                dot + f64::from(bias[c])
            })
            .collect();
        check_summary(
            &format!("{name} image {i} logits"),
            &logits,
            &image["logits"],
            "first16",
        );
    }
}

/// One test per architecture, named after it, so a failure says which model broke.
macro_rules! timm_parity_tests {
    ($($test:ident: $architecture:ident),* $(,)?) => {
        $(#[test]
        fn $test() {
            timm_parity(Architecture::$architecture);
        })*
    };
}

timm_parity_tests!(
    timm_resnet50_matches: ResNet50,
    timm_efficientnet_b0_matches: EfficientNetB0,
    timm_efficientnet_b1_matches: EfficientNetB1,
    timm_convnext_tiny_matches: ConvNextTiny,
    timm_convnext_small_matches: ConvNextSmall,
);

/// A file that does not fit is refused with its path and every problem named.
#[test]
fn a_timm_file_that_does_not_fit_names_the_file_and_the_problems() {
    let mut tensors: Vec<TestTensor> = timm_tensors("resnet50")
        .into_iter()
        .filter(|t| t.name != "layer3.2.bn2.running_var")
        .collect();
    for tensor in &mut tensors {
        if tensor.name == "layer1.0.conv2.weight" {
            tensor.shape = vec![64, 64, 1, 9];
        }
    }
    tensors.push(TestTensor {
        name: "layer5.0.conv1.weight".to_owned(),
        shape: vec![1],
        values: TestValues::F32(vec![0.0]),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.safetensors");
    write_safetensors(&path, &tensors).unwrap();
    let spec = ModelSpec {
        in_channels: 1,
        num_classes: 2,
        ..ModelSpec::published(Architecture::ResNet50)
    };
    let model = Classifier::new(&spec, &Device::flex()).unwrap();
    let Err(err) = load_pretrained(model, Architecture::ResNet50, 1, &path) else {
        panic!("a broken file loaded");
    };
    let message = format!("{err}: {err:?}");
    assert_mentions(
        &message,
        &[
            "broken.safetensors",
            "layer3.2.bn2.running_var",
            "layer1.0.conv2.weight",
            "layer5.0.conv1.weight",
        ],
    );
}
