//! `train.classifier` (train + val image sets → model) and `score.classifier` (model + an
//! image set → metrics and per-image predictions). Both run on the backend the user asked
//! for and record the device they ran on beside their outputs.

use augflow_stages::StageConfig;
use augflow_stages::classifiers::{
    TrainClassifierConfig, TrainProgress, predict, train_classifier,
};
use augflow_stages::metrics::classification_metrics;
use serde::{Deserialize, Serialize};

use super::ml::{device_for, device_outcome, stage_error, stage_io, write_json};
use super::{
    ArtifactType, KindContext, KindError, KindOutcome, KindSpec, Progress, port, port_dir,
    resolve_path_param,
};
use crate::spec::Value;

/// The file a `score.classifier` metrics output holds besides `metrics.json`.
pub use augflow_stages::report::PREDICTIONS_FILE;

pub const TRAIN: KindSpec = KindSpec::new("train.classifier", augflow_stages::CLASSIFIER_VERSION)
    .inputs(&[
        port("train", ArtifactType::ImageSet),
        port("val", ArtifactType::ImageSet),
    ])
    .outputs(&[port("model", ArtifactType::Model)])
    .path_params(&["pretrained"])
    .on_device();

pub const SCORE: KindSpec = KindSpec::new("score.classifier", augflow_stages::CLASSIFIER_VERSION)
    .inputs(&[
        port("model", ArtifactType::Model),
        port("images", ArtifactType::ImageSet),
    ])
    .outputs(&[port("scores", ArtifactType::Metrics)])
    .on_device();

pub fn train(
    config: &TrainClassifierConfig,
    ctx: &KindContext<'_>,
) -> Result<KindOutcome, KindError> {
    let mut config = config.clone();
    resolve_path_param(ctx, "pretrained", &mut config.pretrained)?;
    let device = device_for(ctx)?;
    let report_progress = |event: TrainProgress| (ctx.progress)(train_progress(&event));
    let report = train_classifier(
        &config,
        ctx.seed,
        port_dir(&ctx.inputs, "train")?,
        port_dir(&ctx.inputs, "val")?,
        &stage_io(ctx, "model", &device, &report_progress)?,
    )
    .map_err(stage_error)?;
    let mut outcome = device_outcome(&device);
    let metadata = &mut outcome.metadata;
    metadata.insert("best_epoch".to_owned(), Value::from(report.best_epoch));
    metadata.insert(
        "best_val_balanced_accuracy".to_owned(),
        Value::from(f64::from(report.best_val_balanced_accuracy)),
    );
    metadata.insert("train_images".to_owned(), Value::from(report.train_images));
    metadata.insert("val_images".to_owned(), Value::from(report.val_images));
    metadata.insert(
        "trainable_params".to_owned(),
        Value::from(report.trainable_params),
    );
    Ok(outcome)
}

/// `score.classifier` takes no options; an empty config still rejects unknown params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreConfig {}

impl StageConfig for ScoreConfig {}

/// `metrics.json` of a `score.classifier` node.
#[derive(Serialize)]
struct ScoreFile<'a> {
    #[serde(flatten)]
    metrics: &'a augflow_stages::metrics::ClassificationMetrics,
    /// e.g. "cpu-flex": scores are reproducible only on the same device.
    device: &'a str,
}

pub fn score(_: &ScoreConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let device = device_for(ctx)?;
    (ctx.progress)(Progress {
        message: "predicting".to_owned(),
        fraction: None,
    });
    let predictions = predict(
        port_dir(&ctx.inputs, "model")?,
        port_dir(&ctx.inputs, "images")?,
        &device,
    )?;
    let metrics = classification_metrics(
        &predictions.classes,
        &predictions.y_true,
        &predictions.y_pred,
        Some(&predictions.probs),
    )?;
    let dir = port_dir(&ctx.outputs, "scores")?;
    write_json(
        &dir.join("metrics.json"),
        &ScoreFile {
            metrics: &metrics,
            device: &device.name,
        },
    )?;
    write_json(&dir.join(PREDICTIONS_FILE), &predictions)?;
    let mut outcome = device_outcome(&device);
    outcome
        .metadata
        .insert("accuracy".to_owned(), Value::from(metrics.accuracy));
    outcome.metadata.insert(
        "balanced_accuracy".to_owned(),
        Value::from(metrics.balanced_accuracy),
    );
    Ok(outcome)
}

fn train_progress(event: &TrainProgress) -> Progress {
    match *event {
        TrainProgress::Batch {
            epoch,
            epochs,
            batch,
            batches,
            loss,
            ..
        } => Progress {
            message: format!("epoch {epoch}/{epochs} batch {batch}/{batches} loss {loss:.3}"),
            fraction: Some(((epoch - 1) * batches + batch) as f64 / (epochs * batches) as f64),
        },
        TrainProgress::Epoch {
            epoch,
            epochs,
            val_balanced_accuracy,
            ..
        } => Progress {
            message: format!(
                "epoch {epoch}/{epochs} val balanced accuracy {val_balanced_accuracy:.3}"
            ),
            fraction: Some(epoch as f64 / epochs as f64),
        },
    }
}
