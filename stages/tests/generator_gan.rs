//! A tiny class-conditional GAN on phantom data, on the CPU backend: its checkpoint
//! selection metric improves with training, its losses stay finite, and sampling gives N
//! images per class, reproducibly.

mod classifier_support;
mod generator_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use augflow_stages::backend::{BackendChoice, select_device};
use augflow_stages::classifiers::{Architecture, train_classifier};
use augflow_stages::generators::{
    AdaConfig, GanConfig, GanProgress, GanSelectionConfig, GeneratorFamily, GeneratorFile,
    SampleConfig, TrainInputs, sample_generator, train_gan,
};
use augflow_stages::image_set::ImageSetManifest;
use augflow_stages::{StageError, StageIo};
use classifier_support::tiny_config as tiny_config_classifier;
use generator_support::{Scratch, assert_samples_n_per_class, file_bytes};
use serde_json::json;

fn tiny_config() -> GanConfig {
    GanConfig {
        classes: None,
        image_size: 32,
        z_dim: 32,
        w_dim: 32,
        mapping_layers: 2,
        base_channels: 8,
        max_channels: 32,
        mbstd_group: 4,
        steps: 100,
        batch_size: 8,
        lr_g: 2e-3,
        lr_d: 2e-3,
        ema_decay: 0.99,
        r1_gamma: 0.1,
        r1_interval: 4,
        hflip: true,
        ada: AdaConfig {
            enabled: true,
            target: 0.6,
            interval: 4,
            kimg: 0.5,
        },
        selection: GanSelectionConfig {
            every: 10,
            holdout: 0.2,
            samples: 16,
        },
    }
}

fn train(cfg: &GanConfig, data: &Path, out: &Path) -> (GeneratorFile, Vec<GanProgress>) {
    train_from(cfg, TrainInputs::images(data), out).unwrap()
}

fn train_from(
    cfg: &GanConfig,
    inputs: TrainInputs<'_>,
    out: &Path,
) -> Result<(GeneratorFile, Vec<GanProgress>), StageError> {
    fs::create_dir(out).unwrap();
    let device = select_device(BackendChoice::Cpu).unwrap();
    let events = std::sync::Mutex::new(Vec::new());
    let file = train_gan(
        cfg,
        3,
        inputs,
        &StageIo {
            out_dir: out,
            device: &device,
            progress: &|event| events.lock().unwrap().push(event),
            cancel: &AtomicBool::new(false),
        },
    )?;
    Ok((file, events.into_inner().unwrap()))
}

#[test]
fn tiny_gan_improves_and_samples_n_per_class() {
    let scratch = Scratch::with_classes(&[("healthy", 20), ("bacterial", 20)]);
    let (root, data) = (&scratch.root, &scratch.data);
    let model_dir = root.path().join("gan");
    let (file, events) = train(&tiny_config(), data, &model_dir);

    assert_eq!(file.spec.name(), "gan");
    let reread = GeneratorFile::read(&model_dir).unwrap();
    assert_eq!((&reread.spec, &reread.classes), (&file.spec, &file.classes));
    assert_eq!(reread.losses, file.losses);
    assert_eq!(file.classes, ["bacterial", "healthy"]);
    assert_eq!(file.checkpoints.len(), 2, "one entry per class");
    let steps: Vec<usize> = (1..=10).map(|i| 10 * i).collect();
    for checkpoint in &file.checkpoints {
        assert_eq!(checkpoint.weights, "gan.safetensors");
        assert!(model_dir.join(&checkpoint.weights).is_file());
        assert_eq!(
            (checkpoint.train_images, checkpoint.holdout_images),
            (16, 4)
        );
        assert_eq!(
            checkpoint.scores.iter().map(|s| s.0).collect::<Vec<_>>(),
            steps
        );
        assert!(
            checkpoint
                .scores
                .contains(&(checkpoint.step, checkpoint.score))
        );
        assert!(checkpoint.scores.iter().all(|s| s.1 >= checkpoint.score));
    }
    // The selection metric (mean pixel KID against held-out real training images) of the
    // chosen checkpoint is far below the first checkpoint's, after 10 steps: the generator
    // learned the films' intensity layout. Seen: 1.81 → 0.54.
    let scores = &file.checkpoints[0].scores;
    let (first, chosen) = (scores[0].1, file.checkpoints[0].score);
    assert!(chosen < 0.6 * first, "KID {first} → {chosen}: {scores:?}");
    let per_class: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            GanProgress::Checkpoint { per_class, .. } => Some(per_class.len()),
            GanProgress::Step { .. } => None,
        })
        .collect();
    assert_eq!(
        per_class,
        vec![2; 10],
        "every checkpoint scores both classes"
    );

    let series: BTreeMap<&str, &Vec<f32>> =
        file.losses.iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(
        series.keys().copied().collect::<Vec<_>>(),
        ["ada_p", "d", "g"]
    );
    for (name, values) in &series {
        assert_eq!(values.len(), 10, "{name}: 100 steps in windows of 10");
        assert!(values.iter().all(|v| v.is_finite()), "{name}: {values:?}");
    }
    // With 32 training images D overfits quickly, so ADA turns augmentation up; p stays in
    // [0, 1].
    let p = series["ada_p"];
    assert!(p.iter().all(|p| (0.0..=1.0).contains(p)), "{p:?}");
    assert!(*p.last().unwrap() > 0.1, "{p:?}");

    assert_samples_n_per_class(&model_dir, root.path(), None, None, "gan");
}

#[test]
fn same_seed_gives_the_same_generator_bytes() {
    let scratch = Scratch::with_classes(&[("healthy", 20), ("bacterial", 20)]);
    let (root, data) = (&scratch.root, &scratch.data);
    let cfg = GanConfig {
        steps: 8,
        selection: GanSelectionConfig {
            every: 4,
            holdout: 0.2,
            samples: 4,
        },
        ..tiny_config()
    };
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let (file_a, _) = train(&cfg, data, &a);
    let (file_b, _) = train(&cfg, data, &b);
    assert_eq!(file_a, file_b);
    for name in ["generator.json", "gan.safetensors"] {
        assert_eq!(
            fs::read(a.join(name)).unwrap(),
            fs::read(b.join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn config_rejects_unknown_keys_and_names_bad_values() {
    let err = serde_json::from_str::<GanConfig>(r#"{"steps": 10, "r1_gama": 1}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("r1_gama"), "{err}");
    let defaults: GanConfig = serde_json::from_str("{}").unwrap();
    defaults.validate().unwrap();
    assert_eq!((defaults.image_size, defaults.batch_size), (64, 16));
    for (cfg, needle) in [
        (
            GanConfig {
                image_size: 48,
                ..tiny_config()
            },
            "image_size 48",
        ),
        (
            GanConfig {
                max_channels: 4,
                ..tiny_config()
            },
            "max_channels 4",
        ),
        (
            GanConfig {
                ada: AdaConfig {
                    target: 1.5,
                    ..AdaConfig::default()
                },
                ..tiny_config()
            },
            "ada.target 1.5",
        ),
    ] {
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn too_few_images_for_a_holdout_is_a_clear_error() {
    let err = Scratch::three_images().train_error(&tiny_config(), train_gan);
    assert!(err.contains("\"healthy\" has 3 training images"), "{err}");
}

/// A classifier trained (one epoch, the classifier tests' tiny config) on `data`,
/// validated on it too: a feature map, not a judge.
fn features_model(data: &Path, out: &Path) {
    fs::create_dir(out).unwrap();
    let cfg = tiny_config_classifier(Architecture::ResNet50, 1);
    let device = select_device(BackendChoice::Cpu).unwrap();
    let never = AtomicBool::new(false);
    train_classifier(
        &cfg,
        1,
        data,
        data,
        &StageIo::without_progress(out, &device, &never),
    )
    .unwrap();
}

#[test]
fn a_features_model_scores_checkpoints_in_its_space_and_every_score_has_a_spread() {
    let scratch = Scratch::with_classes(&[("healthy", 20), ("bacterial", 20)]);
    let (root, data) = (scratch.root.path(), &scratch.data);
    let features = root.join("features");
    features_model(data, &features);
    let cfg = GanConfig {
        steps: 20,
        ..tiny_config()
    };
    let (pixels, _) = train(&cfg, data, &root.join("pixels"));
    let inputs = TrainInputs {
        train: data,
        features: Some(&features),
    };
    let (domain, events) = train_from(&cfg, inputs, &root.join("domain")).unwrap();

    // Training and the drawn images are the same in both runs: only the space differs.
    let steps = |c: &augflow_stages::generators::Checkpoint| -> Vec<usize> {
        c.scores.iter().map(|s| s.0).collect()
    };
    let (p, d) = (&pixels.checkpoints[0], &domain.checkpoints[0]);
    assert_eq!(steps(p), [10, 20]);
    assert_eq!(steps(d), steps(p));
    for (a, b) in p.scores.iter().zip(&d.scores) {
        assert!((a.1 - b.1).abs() > 1e-9, "pixel {a:?} vs domain {b:?}");
    }
    for c in [p, d] {
        assert_eq!(c.spreads.iter().map(|s| s.0).collect::<Vec<_>>(), [10, 20]);
        assert!(
            c.spreads.iter().all(|s| s.1.is_finite() && s.1 > 0.0),
            "{:?}",
            c.spreads
        );
    }
    let reported: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            GanProgress::Checkpoint { spread, .. } => Some(*spread),
            GanProgress::Step { .. } => None,
        })
        .collect();
    assert_eq!(reported, d.spreads.iter().map(|s| s.1).collect::<Vec<_>>());

    // Without a holdout the model would score nothing: refused, not ignored.
    let no_holdout = GanConfig {
        selection: GanSelectionConfig {
            holdout: 0.0,
            ..cfg.selection.clone()
        },
        ..cfg
    };
    let err = train_from(&no_holdout, inputs, &root.join("refused")).unwrap_err();
    assert!(err.to_string().contains("selection.holdout"), "{err}");
}

/// Pixels (0..=255) of every image of the set in `dir`, by class.
fn pixels_by_class(dir: &Path) -> BTreeMap<String, Vec<Vec<f64>>> {
    let manifest = ImageSetManifest::read(dir).unwrap();
    let mut out: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    for record in &manifest.images {
        let image = image::open(dir.join(&record.path)).unwrap().to_luma8();
        let pixels = image.into_raw().into_iter().map(f64::from).collect();
        out.entry(record.label.clone()).or_default().push(pixels);
    }
    out
}

fn mean_image(images: &[Vec<f64>]) -> Vec<f64> {
    let mut mean = vec![0.0; images[0].len()];
    for image in images {
        for (m, v) in mean.iter_mut().zip(image) {
            *m += v / images.len() as f64;
        }
    }
    mean
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Root mean squared distance of a class's images to their mean image.
fn spread(images: &[Vec<f64>]) -> f64 {
    let mean = mean_image(images);
    let total: f64 = images.iter().map(|i| distance(i, &mean).powi(2)).sum();
    (total / images.len() as f64).sqrt()
}

#[test]
fn truncation_pulls_each_image_towards_its_own_class_centre() {
    let scratch = Scratch::with_classes(&[("healthy", 20), ("bacterial", 20)]);
    let root = scratch.root.path();
    let model_dir = root.join("gan");
    let cfg = GanConfig {
        steps: 30,
        selection: GanSelectionConfig {
            every: 30,
            holdout: 0.2,
            samples: 4,
        },
        ..tiny_config()
    };
    train(&cfg, &scratch.data, &model_dir);
    let device = select_device(BackendChoice::Cpu).unwrap();
    let draw = |params: serde_json::Value, out: &str| {
        let dir = root.join(out);
        fs::create_dir(&dir).unwrap();
        let mut cfg = json!({"n": 12, "batch_size": 5});
        cfg.as_object_mut()
            .unwrap()
            .extend(params.as_object().unwrap().clone());
        let cfg: SampleConfig = serde_json::from_value(cfg).unwrap();
        sample_generator(
            &model_dir,
            &cfg,
            4,
            &StageIo::without_progress(&dir, &device, &AtomicBool::new(false)),
        )
        .map(|_| dir)
    };
    let plain = draw(json!({}), "plain").unwrap();
    // ψ = 1 is no truncation, given at the top level or in the GAN's own section.
    assert_eq!(
        file_bytes(&draw(json!({"truncation": 1.0}), "one").unwrap()),
        file_bytes(&plain)
    );
    let spreads =
        |dir: &Path| -> Vec<f64> { pixels_by_class(dir).values().map(|i| spread(i)).collect() };
    let (full, half, zero) = (
        pixels_by_class(&plain),
        pixels_by_class(&draw(json!({"gan": {"truncation": 0.5}}), "half").unwrap()),
        pixels_by_class(&draw(json!({"truncation": 0.0}), "zero").unwrap()),
    );
    for class in ["bacterial", "healthy"] {
        let (a, b, c) = (
            spread(&full[class]),
            spread(&half[class]),
            spread(&zero[class]),
        );
        assert!(
            a > b && b > c,
            "{class}: spread ψ=1 {a}, ψ=0.5 {b}, ψ=0 {c}"
        );
    }
    // ψ = 0 draws each class's own centre (only the noise maps still vary): the two
    // classes' images stay apart. A centre shared by the classes would merge them.
    let apart = distance(
        &mean_image(&zero["bacterial"]),
        &mean_image(&zero["healthy"]),
    );
    let within = spreads(&root.join("zero"));
    assert!(
        within.iter().all(|w| apart > 2.0 * w),
        "class centres {apart} apart, spreads within {within:?}"
    );

    // Bad values and params that do not apply are refused, naming them.
    for (params, needle) in [
        (
            json!({"truncation": 1.5}),
            "truncation 1.5 is outside 0..=1",
        ),
        (
            json!({"gan": {"steps": 5}}),
            "in `gan`: `steps` does not apply to a GAN",
        ),
        (
            json!({"truncation": 0.5, "gan": {"truncation": 0.7}}),
            "`truncation` is given both",
        ),
    ] {
        let err = draw(
            params.clone(),
            &format!("bad-{needle}").replace(['`', ' ', '.', '='], "_"),
        );
        let err = err.unwrap_err().to_string();
        assert!(err.contains(needle), "{params}: {err}");
    }
    let ddpm: SampleConfig = serde_json::from_value(json!({"n": 1, "truncation": 0.5})).unwrap();
    let (name, why) = ddpm.misapplied(GeneratorFamily::Ddpm).unwrap();
    assert_eq!(name, "truncation", "{why}");
}
