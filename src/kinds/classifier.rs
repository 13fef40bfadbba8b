//! `train.classifier` (train + val image sets → model) and `score.classifier` (model + an
//! image set → metrics and per-image predictions). Both run on the backend the user asked
//! for and record the device they ran on beside their outputs.

use std::collections::BTreeMap;

use augflow_stages::classifiers::{
    TrainClassifierConfig, TrainProgress, predict, train_classifier,
};
use augflow_stages::metrics::classification_metrics;
use serde::{Deserialize, Serialize};

use super::ml::{device_for, device_outcome, stage_error, write_json};
use super::{
    ArtifactType, KindContext, KindError, KindOutcome, LegacyKind, Port, Progress, path_param,
    port_dir, typed_params,
};
use crate::spec::Value;

pub struct TrainClassifier;
pub struct ScoreClassifier;

/// The file a `score.classifier` metrics output holds besides `metrics.json`.
pub const PREDICTIONS_FILE: &str = "predictions.json";

const TRAIN_INPUTS: &[Port] = &[
    Port {
        name: "train",
        ty: ArtifactType::ImageSet,
    },
    Port {
        name: "val",
        ty: ArtifactType::ImageSet,
    },
];
const TRAIN_OUTPUTS: &[Port] = &[Port {
    name: "model",
    ty: ArtifactType::Model,
}];
const SCORE_INPUTS: &[Port] = &[
    Port {
        name: "model",
        ty: ArtifactType::Model,
    },
    Port {
        name: "images",
        ty: ArtifactType::ImageSet,
    },
];
const SCORE_OUTPUTS: &[Port] = &[Port {
    name: "scores",
    ty: ArtifactType::Metrics,
}];

impl LegacyKind for TrainClassifier {
    fn name(&self) -> &'static str {
        "train.classifier"
    }

    fn version(&self) -> u32 {
        augflow_stages::CLASSIFIER_VERSION
    }
    fn uses_device(&self) -> bool {
        true
    }

    fn inputs(&self) -> &'static [Port] {
        TRAIN_INPUTS
    }

    fn outputs(&self) -> &'static [Port] {
        TRAIN_OUTPUTS
    }

    fn path_params(&self) -> &'static [&'static str] {
        &["pretrained"]
    }

    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
        let config: TrainClassifierConfig = typed_params(params)?;
        config.validate().map_err(|err| err.to_string())
    }

    fn run(
        &self,
        params: &BTreeMap<String, Value>,
        ctx: &KindContext<'_>,
    ) -> Result<KindOutcome, KindError> {
        let mut config: TrainClassifierConfig = typed_params(params).map_err(KindError::Params)?;
        if config.pretrained.is_some() {
            // The params hold the pipeline-relative text; the engine resolved (and hashed) it.
            config.pretrained = Some(path_param(ctx, "pretrained")?.clone());
        }
        let device = device_for(ctx)?;
        let report_progress = |event: TrainProgress| (ctx.progress)(train_progress(&event));
        let report = train_classifier(
            &config,
            ctx.seed,
            port_dir(&ctx.inputs, "train")?,
            port_dir(&ctx.inputs, "val")?,
            port_dir(&ctx.outputs, "model")?,
            &device,
            &report_progress,
            ctx.cancel,
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
}

/// `score.classifier` takes no options; an empty config still rejects unknown params.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreConfig {}

/// `metrics.json` of a `score.classifier` node.
#[derive(Serialize)]
struct ScoreFile<'a> {
    #[serde(flatten)]
    metrics: &'a augflow_stages::metrics::ClassificationMetrics,
    /// e.g. "cpu-flex": scores are reproducible only on the same device.
    device: &'a str,
}

impl LegacyKind for ScoreClassifier {
    fn name(&self) -> &'static str {
        "score.classifier"
    }

    fn version(&self) -> u32 {
        augflow_stages::CLASSIFIER_VERSION
    }
    fn uses_device(&self) -> bool {
        true
    }

    fn inputs(&self) -> &'static [Port] {
        SCORE_INPUTS
    }

    fn outputs(&self) -> &'static [Port] {
        SCORE_OUTPUTS
    }

    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
        typed_params::<ScoreConfig>(params).map(|_| ())
    }

    fn run(
        &self,
        _params: &BTreeMap<String, Value>,
        ctx: &KindContext<'_>,
    ) -> Result<KindOutcome, KindError> {
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
