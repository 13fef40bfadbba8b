//! The architectures: tiny versions run, full-size ones have the published sizes.

use augflow_stages::classifiers::{Architecture, Classifier, ModelSpec, param_count};
use burn::tensor::{Device, Distribution, Tensor};

fn tiny(architecture: Architecture, classes: usize) -> ModelSpec {
    ModelSpec {
        width: 0.25,
        depth: 0.3,
        in_channels: 1,
        num_classes: classes,
        ..ModelSpec::published(architecture)
    }
}

#[test]
fn tiny_models_give_one_logit_per_class() {
    let device = Device::flex();
    for architecture in Architecture::ALL {
        let model = Classifier::new(&tiny(architecture, 5), &device)
            .unwrap()
            .init_seeded(1);
        let x = Tensor::<4>::random([3, 1, 32, 32], Distribution::Default, &device);
        let logits = model.forward(x);
        assert_eq!(logits.dims(), [3, 5], "{architecture:?}");
        let values = logits.try_into_vec_as::<f32>().unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{architecture:?}");
    }
}

/// Published parameter counts (torchvision/timm, 3-channel input, 1000 classes).
const PUBLISHED: [(Architecture, usize); 5] = [
    (Architecture::ResNet50, 25_557_032),
    (Architecture::EfficientNetB0, 5_288_548),
    (Architecture::EfficientNetB1, 7_794_184),
    (Architecture::ConvNextTiny, 28_589_128),
    (Architecture::ConvNextSmall, 50_223_688),
];

#[test]
fn full_size_models_match_published_parameter_counts() {
    for (architecture, published) in PUBLISHED {
        let count = param_count(&ModelSpec::published(architecture)).unwrap();
        let error = (count as f64 - published as f64).abs() / published as f64;
        assert!(
            error < 0.005,
            "{architecture:?}: {count} vs published {published}"
        );
    }
}

#[test]
fn grayscale_five_class_counts_differ_only_in_stem_and_head() {
    // (stem output channels × kernel area, classifier input width) per architecture.
    let shapes = [
        (Architecture::ResNet50, 64 * 49, 2048),
        (Architecture::EfficientNetB0, 32 * 9, 1280),
        (Architecture::EfficientNetB1, 32 * 9, 1280),
        (Architecture::ConvNextTiny, 96 * 16, 768),
        (Architecture::ConvNextSmall, 96 * 16, 768),
    ];
    for (architecture, stem, features) in shapes {
        let rgb = param_count(&ModelSpec::published(architecture)).unwrap();
        let gray = param_count(&ModelSpec {
            in_channels: 1,
            num_classes: 5,
            ..ModelSpec::published(architecture)
        })
        .unwrap();
        let expected = rgb - 2 * stem - 995 * (features + 1);
        assert_eq!(gray, expected, "{architecture:?}");
    }
}

#[test]
fn seeded_init_is_reproducible_and_seed_dependent() {
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 1, 32, 32], Distribution::Default, &device);
    let run = |seed| {
        Classifier::new(&tiny(Architecture::EfficientNetB0, 3), &device)
            .unwrap()
            .init_seeded(seed)
            .forward(x.clone())
            .try_into_vec_as::<f32>()
            .unwrap()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn invalid_specs_are_rejected() {
    let mut spec = tiny(Architecture::ResNet50, 1);
    assert!(param_count(&spec).is_err());
    spec.num_classes = 2;
    spec.width = 0.0;
    assert!(param_count(&spec).is_err());
}
