//! A tiny per-class DDPM on phantom data, on the CPU backend: it learns (its loss falls),
//! records its checkpoint selection, and sampling gives N images per class, reproducibly.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use augflow_stages::backend::{BackendChoice, select_device};
use augflow_stages::generators::{
    DdpmConfig, GeneratorFile, NoiseSchedule, SampleConfig, Sampler, SelectionConfig,
    sample_generator, train_ddpm,
};
use augflow_stages::image_set::ImageSetManifest;
use augflow_stages::phantom::{PhantomConfig, generate_phantom};

fn tiny_config() -> DdpmConfig {
    DdpmConfig {
        classes: None,
        image_size: 32,
        base_channels: 8,
        channel_mults: vec![1, 2],
        res_blocks: 1,
        attention_resolutions: vec![16],
        schedule: NoiseSchedule::Linear,
        timesteps: 100,
        steps: 60,
        batch_size: 8,
        lr: 2e-3,
        ema_decay: 0.99,
        hflip: true,
        selection: SelectionConfig {
            every: 20,
            holdout: 0.2,
            samples: 8,
            ddim_steps: 5,
        },
    }
}

fn phantom(dir: &Path) {
    let cfg = PhantomConfig {
        size: 32,
        classes: BTreeMap::from([("healthy".into(), 20), ("bacterial".into(), 20)]),
        images_per_patient: 2,
    };
    generate_phantom(&cfg, 5, dir).unwrap();
}

fn file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let manifest = ImageSetManifest::read(dir).unwrap();
    manifest
        .images
        .iter()
        .map(|r| (r.path.clone(), fs::read(dir.join(&r.path)).unwrap()))
        .collect()
}

#[test]
fn tiny_ddpm_learns_and_samples_n_per_class() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    fs::create_dir(&data).unwrap();
    phantom(&data);
    let device = select_device(BackendChoice::Cpu).unwrap();
    let never = AtomicBool::new(false);

    let model_dir = root.path().join("ddpm");
    fs::create_dir(&model_dir).unwrap();
    let file = train_ddpm(
        &tiny_config(),
        3,
        &data,
        &model_dir,
        &device,
        &|_| {},
        &never,
    )
    .unwrap();
    assert_eq!(file.checkpoints.len(), 2, "one network per class");
    let reread = GeneratorFile::read(&model_dir).unwrap();
    assert_eq!((&reread.spec, &reread.classes), (&file.spec, &file.classes));
    assert_eq!(reread.checkpoints.len(), file.checkpoints.len());
    for checkpoint in &file.checkpoints {
        assert!(model_dir.join(&checkpoint.weights).is_file());
        assert_eq!(checkpoint.holdout_images, 4, "20% of 20 images");
        assert_eq!(
            checkpoint.scores.iter().map(|s| s.0).collect::<Vec<_>>(),
            [20, 40, 60]
        );
        assert!(
            checkpoint
                .scores
                .iter()
                .any(|s| s == &(checkpoint.step, checkpoint.score))
        );
        assert!(checkpoint.scores.iter().all(|s| s.1 >= checkpoint.score));
    }
    for (class, losses) in &file.losses {
        // 6 windows of 10 steps: the noise-prediction MSE starts near 1 (predicting 0)
        // or above, and must fall clearly with training.
        assert_eq!(losses.len(), 6);
        let first = losses[0];
        let last = losses[losses.len() - 3..].iter().sum::<f32>() / 3.0;
        assert!(
            last < 0.7 * first,
            "{class}: loss {first} → {last}: {losses:?}"
        );
    }

    let sample = |n: usize, out: &str| {
        let dir = root.path().join(out);
        fs::create_dir(&dir).unwrap();
        let cfg = SampleConfig {
            n,
            classes: None,
            batch_size: 2,
            sampler: Some(Sampler::Ddim),
            steps: Some(5),
            prompt: None,
            guidance: None,
            lora_scale: None,
            ddpm: None,
            latent: None,
        };
        sample_generator(&model_dir, &cfg, 9, &dir, &device, &|_| {}, &never).unwrap();
        dir
    };
    let three = sample(3, "three");
    let manifest = ImageSetManifest::read(&three).unwrap();
    assert_eq!(manifest.images.len(), 6);
    assert_eq!((manifest.width, manifest.height), (32, 32));
    let counts = manifest.counts_per_class();
    assert_eq!(counts["healthy"], 3);
    assert_eq!(counts["bacterial"], 3);
    assert!(
        manifest
            .images
            .iter()
            .all(|r| r.source.as_deref() == Some("synthetic:ddpm"))
    );
    let image = image::open(three.join(&manifest.images[0].path)).unwrap();
    assert_eq!((image.width(), image.height()), (32, 32));

    // Same seed: same bytes; more images: the first three are unchanged.
    let five = sample(5, "five");
    let (a, b) = (file_bytes(&three), file_bytes(&five));
    assert_eq!(b.len(), 10);
    for entry in &a {
        assert!(b.contains(entry), "{} changed when N grew", entry.0);
    }
    let again = sample(3, "again");
    assert_eq!(file_bytes(&again), a);
    // Not all the same picture.
    assert_ne!(a[0].1, a[1].1);
}

#[test]
fn too_few_images_for_a_holdout_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    fs::create_dir(&data).unwrap();
    let cfg = PhantomConfig {
        size: 32,
        classes: BTreeMap::from([("healthy".into(), 3)]),
        images_per_patient: 1,
    };
    generate_phantom(&cfg, 5, &data).unwrap();
    let out = root.path().join("out");
    fs::create_dir(&out).unwrap();
    let device = select_device(BackendChoice::Cpu).unwrap();
    let err = train_ddpm(
        &tiny_config(),
        1,
        &data,
        &out,
        &device,
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("\"healthy\" has 3 training images"), "{err}");
}

#[test]
fn holdout_zero_keeps_the_last_ema_weights_and_every_image() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    fs::create_dir(&data).unwrap();
    let cfg = PhantomConfig {
        size: 32,
        classes: BTreeMap::from([("healthy".into(), 3)]),
        images_per_patient: 1,
    };
    generate_phantom(&cfg, 5, &data).unwrap();
    let out = root.path().join("out");
    fs::create_dir(&out).unwrap();
    let mut config = tiny_config();
    config.steps = 4;
    config.selection.holdout = 0.0;
    let device = select_device(BackendChoice::Cpu).unwrap();
    // Three images: too few for a holdout (above), enough without one.
    let file = train_ddpm(
        &config,
        1,
        &data,
        &out,
        &device,
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    let checkpoint = &file.checkpoints[0];
    assert_eq!(
        (
            checkpoint.step,
            checkpoint.train_images,
            checkpoint.holdout_images
        ),
        (4, 3, 0)
    );
    assert!(checkpoint.scores.is_empty(), "{:?}", checkpoint.scores);
}
