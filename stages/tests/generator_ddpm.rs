//! A tiny per-class DDPM on phantom data, on the CPU backend: it learns (its loss falls),
//! records its checkpoint selection, and sampling gives N images per class, reproducibly.

mod generator_support;

use std::fs;
use std::sync::atomic::AtomicBool;

use augflow_stages::StageIo;
use augflow_stages::backend::{BackendChoice, select_device};
use augflow_stages::generators::{
    DdpmConfig, DdpmProgress, GeneratorFile, NoiseSchedule, Sampler, SelectionConfig, TrainInputs,
    train_ddpm,
};
use generator_support::{Scratch, assert_samples_n_per_class};

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
        min_snr_gamma: None,
        hflip: true,
        selection: SelectionConfig {
            every: 20,
            holdout: 0.2,
            samples: 8,
            ddim_steps: 5,
        },
    }
}

#[test]
fn tiny_ddpm_learns_and_samples_n_per_class() {
    let scratch = Scratch::with_classes(&[("healthy", 20), ("bacterial", 20)]);
    let (root, data) = (&scratch.root, &scratch.data);
    let device = select_device(BackendChoice::Cpu).unwrap();
    let never = AtomicBool::new(false);

    let model_dir = root.path().join("ddpm");
    fs::create_dir(&model_dir).unwrap();
    let file = train_ddpm(
        &tiny_config(),
        3,
        TrainInputs::images(data),
        &StageIo::without_progress(&model_dir, &device, &never),
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

    assert_samples_n_per_class(
        &model_dir,
        root.path(),
        Some(Sampler::Ddim),
        Some(5),
        "ddpm",
    );
}

#[test]
fn too_few_images_for_a_holdout_is_a_clear_error() {
    let err = Scratch::three_images().train_error(&tiny_config(), train_ddpm);
    assert!(err.contains("\"healthy\" has 3 training images"), "{err}");
}

#[test]
fn holdout_zero_keeps_the_last_ema_weights_and_every_image() {
    let scratch = Scratch::three_images();
    let mut config = tiny_config();
    config.steps = 4;
    config.selection.holdout = 0.0;
    let device = select_device(BackendChoice::Cpu).unwrap();
    // Three images: too few for a holdout (above), enough without one.
    let file = train_ddpm(
        &config,
        1,
        TrainInputs::images(&scratch.data),
        &StageIo::without_progress(&scratch.out, &device, &AtomicBool::new(false)),
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

/// The first step's loss (same init, batch, timesteps and noise in every run).
fn first_loss(config: &DdpmConfig, scratch: &Scratch, out: &str) -> f32 {
    let out = scratch.root.path().join(out);
    fs::create_dir(&out).unwrap();
    let losses = std::sync::Mutex::new(Vec::new());
    let progress = |event: DdpmProgress| {
        if let DdpmProgress::Step { loss, .. } = event {
            losses.lock().unwrap().push(loss);
        }
    };
    let device = select_device(BackendChoice::Cpu).unwrap();
    train_ddpm(
        config,
        1,
        TrainInputs::images(&scratch.data),
        &StageIo {
            out_dir: &out,
            device: &device,
            progress: &progress,
            cancel: &AtomicBool::new(false),
        },
    )
    .unwrap();
    losses.into_inner().unwrap()[0]
}

#[test]
fn min_snr_weighting_scales_down_only_the_low_noise_timesteps() {
    let scratch = Scratch::with_classes(&[("healthy", 12)]);
    let config = DdpmConfig {
        steps: 1,
        selection: SelectionConfig {
            holdout: 0.0,
            ..tiny_config().selection
        },
        ..tiny_config()
    };
    let with = |gamma: Option<f64>, out: &str| {
        let config = DdpmConfig {
            min_snr_gamma: gamma,
            ..config.clone()
        };
        first_loss(&config, &scratch, out)
    };
    let plain = with(None, "plain");
    // γ above every timestep's SNR weights each by SNR/SNR = 1: the same loss, bit for bit.
    assert_eq!(with(Some(1e12), "huge").to_bits(), plain.to_bits());
    // A small γ weights all but the noisiest timesteps by γ/SNR ≪ 1.
    let small = with(Some(0.001), "small");
    assert!(small < 0.9 * plain, "γ 0.001: {small}, unweighted {plain}");

    let bad = DdpmConfig {
        min_snr_gamma: Some(0.0),
        ..config
    };
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("min_snr_gamma 0"), "{err}");
}
