//! Training and scoring on phantom data, on the CPU backend (flex).

mod classifier_support;

use std::cell::RefCell;
use std::fs;
use std::sync::atomic::AtomicBool;

use augflow_stages::backend::{BackendChoice, select_device};
use augflow_stages::classifiers::{
    Architecture, AugmentConfig, HISTORY_FILE, History, MODEL_FILE, ModelFile, TrainProgress,
    WEIGHTS_FILE, predict, train_classifier,
};
use augflow_stages::{StageError, StageIo};
use classifier_support::{files, phantom_splits, tiny_config};

#[test]
fn tiny_resnet_learns_phantom_classes() {
    // 30 patients per class with two films each; 18 / 6 / 6 patients per class for
    // train / val / test. Held-out patients make this hard for a 0.6 M-parameter model at
    // 32 px; with 60 test images, chance is 0.2 ± 0.05.
    let splits = phantom_splits(60, 11);
    let out = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(Architecture::ResNet50, 10);
    // Whether the loop learns is under test here, not the radiograph defaults: at 32 px
    // the study's "strong" set (rotate 10°, shift 0.1) moves the phantoms' small findings
    // too far for ten epochs, so this keeps the milder set the test was written with.
    cfg.augment = AugmentConfig {
        hflip: false,
        max_rotate_deg: 5.0,
        max_translate: 0.05,
        max_scale: 0.05,
        brightness: 0.1,
        contrast: 0.1,
        noise_std: 0.01,
    };
    let device = select_device(BackendChoice::Cpu).unwrap();
    let events = RefCell::new(Vec::new());
    let report = train_classifier(
        &cfg,
        3,
        &splits.train,
        &splits.val,
        &StageIo {
            out_dir: out.path(),
            device: &device,
            progress: &|event| events.borrow_mut().push(event),
            cancel: &AtomicBool::new(false),
        },
    )
    .unwrap();
    assert_eq!(report.train_images, 180);
    assert_eq!(report.val_images, 60);
    assert_eq!(report.device, "cpu-flex");

    let events = events.into_inner();
    let batches = events
        .iter()
        .filter(|e| matches!(e, TrainProgress::Batch { .. }))
        .count();
    assert_eq!(batches, 10 * 23, "180 images in batches of 8");
    assert!(matches!(
        events.last(),
        Some(TrainProgress::Epoch {
            epoch: 10,
            epochs: 10,
            ..
        })
    ));

    let history: History =
        serde_json::from_slice(&fs::read(out.path().join(HISTORY_FILE)).unwrap()).unwrap();
    assert_eq!(history.epochs.len(), 10);
    assert_eq!(history.best_epoch, report.best_epoch);
    assert_eq!(history.epochs[0].lr, 2e-3);
    assert!(history.epochs.windows(2).all(|w| w[1].lr < w[0].lr));
    let model: ModelFile =
        serde_json::from_slice(&fs::read(out.path().join(MODEL_FILE)).unwrap()).unwrap();
    assert_eq!(model.classes.len(), 5);
    assert_eq!(model.image_size, 32);

    // The saved weights are the best epoch's: scoring the validation set again gives
    // exactly the metrics recorded for that epoch.
    let best = &history.epochs[history.best_epoch - 1];
    let val = predict(out.path(), &splits.val, &device).unwrap();
    let val_balanced = balanced_accuracy(&val.y_true, &val.y_pred, 5);
    assert!((val_balanced - f64::from(best.val_balanced_accuracy)).abs() < 1e-6);
    let val_loss = val
        .y_true
        .iter()
        .zip(&val.probs)
        .map(|(&t, p)| -f64::from(p[t]).ln())
        .sum::<f64>()
        / val.y_true.len() as f64;
    assert!(
        (val_loss - f64::from(best.val_loss)).abs() < 1e-4,
        "{val_loss} vs {best:?}"
    );

    let test = predict(out.path(), &splits.test, &device).unwrap();
    assert_eq!(test.y_true.len(), 60);
    assert!(
        test.probs
            .iter()
            .all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-4)
    );
    let balanced = balanced_accuracy(&test.y_true, &test.y_pred, 5);
    assert!(
        balanced >= 0.35,
        "held-out balanced accuracy {balanced} (chance is 0.2); history {history:?}"
    );
}

fn balanced_accuracy(truth: &[usize], preds: &[usize], classes: usize) -> f64 {
    let recall = |c: usize| {
        let of_class: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] == c).collect();
        of_class.iter().filter(|&&i| preds[i] == c).count() as f64 / of_class.len() as f64
    };
    (0..classes).map(recall).sum::<f64>() / classes as f64
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let splits = phantom_splits(6, 5);
    let device = select_device(BackendChoice::Cpu).unwrap();
    let cfg = tiny_config(Architecture::EfficientNetB0, 2);
    let run = |seed| {
        let out = tempfile::tempdir().unwrap();
        splits
            .fit(&cfg, seed, out.path(), &device, &AtomicBool::new(false))
            .unwrap();
        files(out.path())
    };
    let first = run(1);
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [HISTORY_FILE, MODEL_FILE, WEIGHTS_FILE]);
    assert!(first == run(1), "same seed must give identical files");
    let other = run(2);
    assert_ne!(
        first[2].1, other[2].1,
        "another seed must give other weights"
    );
}

#[test]
fn convnext_trains_and_predicts() {
    let splits = phantom_splits(5, 2);
    let out = tempfile::tempdir().unwrap();
    let device = select_device(BackendChoice::Cpu).unwrap();
    let mut cfg = tiny_config(Architecture::ConvNextTiny, 1);
    cfg.class_weighting = true;
    cfg.weight_decay = 1e-4;
    splits
        .fit(&cfg, 0, out.path(), &device, &AtomicBool::new(false))
        .unwrap();
    let predictions = predict(out.path(), &splits.test, &device).unwrap();
    assert_eq!(predictions.classes.len(), 5);
    assert_eq!(predictions.y_pred.len(), predictions.y_true.len());
}

#[test]
fn previous_run_weights_serve_as_pretrained() {
    let splits = phantom_splits(5, 4);
    let device = select_device(BackendChoice::Cpu).unwrap();
    let first = tempfile::tempdir().unwrap();
    let cfg = tiny_config(Architecture::EfficientNetB1, 1);
    let train =
        |cfg: &_, out: &std::path::Path| splits.fit(cfg, 9, out, &device, &AtomicBool::new(false));
    train(&cfg, first.path()).unwrap();
    let mut cfg2 = cfg.clone();
    cfg2.pretrained = Some(first.path().join(WEIGHTS_FILE));
    let second = tempfile::tempdir().unwrap();
    train(&cfg2, second.path()).unwrap();

    let mut wrong = tiny_config(Architecture::ResNet50, 1);
    wrong.pretrained = Some(first.path().join(WEIGHTS_FILE));
    let third = tempfile::tempdir().unwrap();
    let err = train(&wrong, third.path()).unwrap_err();
    assert!(matches!(err, StageError::LoadWeights { .. }), "{err}");
}

#[test]
fn refuses_non_empty_output_and_stops_when_cancelled() {
    let splits = phantom_splits(5, 1);
    let device = select_device(BackendChoice::Cpu).unwrap();
    let cfg = tiny_config(Architecture::ResNet50, 1);
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("leftover"), b"x").unwrap();
    let err = splits
        .fit(&cfg, 0, out.path(), &device, &AtomicBool::new(false))
        .unwrap_err();
    assert!(matches!(err, StageError::OutputNotEmpty { .. }), "{err}");

    let out = tempfile::tempdir().unwrap();
    let err = splits
        .fit(&cfg, 0, out.path(), &device, &AtomicBool::new(true))
        .unwrap_err();
    assert!(matches!(err, StageError::Cancelled), "{err}");
    assert!(fs::read_dir(out.path()).unwrap().next().is_none());
}

#[test]
fn unknown_test_class_is_an_error() {
    let splits = phantom_splits(5, 3);
    let device = select_device(BackendChoice::Cpu).unwrap();
    let out = tempfile::tempdir().unwrap();
    splits
        .fit(
            &tiny_config(Architecture::ResNet50, 1),
            0,
            out.path(),
            &device,
            &AtomicBool::new(false),
        )
        .unwrap();
    // Rename a class in the test manifest.
    let path = splits.test.join("images.json");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("\"label\": \"viral\"", "\"label\": \"other\""),
    )
    .unwrap();
    let err = predict(out.path(), &splits.test, &device).unwrap_err();
    assert!(err.to_string().contains("\"other\""), "{err}");
}
