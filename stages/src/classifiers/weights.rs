//! The trained-model artifact: `model.safetensors` (weights), `model.json` (everything
//! needed to rebuild the module tree and preprocess inputs) and `history.json`.

use std::path::Path;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::ModelSpec;
use super::data::{NORM_MEAN, NORM_STD};
use super::model::Classifier;
use crate::StageError;
use crate::json_file::read_versioned;

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const MODEL_FILE: &str = "model.json";
pub const HISTORY_FILE: &str = "history.json";
/// Version of `model.json` and of the weight naming; readers reject any other.
pub const MODEL_FORMAT: u32 = 1;

/// Contents of `model.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub format: u32,
    pub spec: ModelSpec,
    /// Class names in logit order.
    pub classes: Vec<String>,
    /// Inputs are resized to image_size × image_size.
    pub image_size: u32,
    /// Inputs are scaled to [0, 1], then (x − mean) / std.
    pub norm_mean: f32,
    pub norm_std: f32,
}

impl ModelFile {
    pub fn new(spec: ModelSpec, classes: Vec<String>, image_size: u32) -> Self {
        Self {
            format: MODEL_FORMAT,
            spec,
            classes,
            image_size,
            norm_mean: NORM_MEAN,
            norm_std: NORM_STD,
        }
    }

    pub fn read(dir: &Path) -> Result<Self, StageError> {
        let path = dir.join(MODEL_FILE);
        let file = read_versioned(&path, MODEL_FORMAT, |file: &Self| file.format)?;
        if file.norm_mean != NORM_MEAN || file.norm_std != NORM_STD {
            return Err(StageError::InvalidConfig(format!(
                "{}: normalisation {}/{} differs from this version's {NORM_MEAN}/{NORM_STD}",
                path.display(),
                file.norm_mean,
                file.norm_std
            )));
        }
        Ok(file)
    }
}

/// Serialises the weights as safetensors. Call on a `valid()` model: only then are
/// BatchNorm's running statistics up to date. Metadata is cleared (it would hold the
/// burn-store version) and names carry no enum variant, so equal weights give equal bytes.
///
/// Bytes, not a module clone, are how training keeps its best epoch: a clone shares its
/// BatchNorm running statistics with the model that goes on training.
pub(super) fn weights_bytes(model: &Classifier) -> Result<Vec<u8>, StageError> {
    crate::weights::module_bytes(model, WEIGHTS_FILE)
}

/// Writes the weights of `model` (see [`weights_bytes`]) to `path`.
#[cfg(test)]
pub(super) fn save_weights(model: &Classifier, path: &Path) -> Result<(), StageError> {
    let bytes = weights_bytes(model)?;
    std::fs::write(path, bytes).map_err(|source| StageError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Loads weights saved by [`save_weights`] into `model`, requiring every tensor to match.
pub(super) fn load_weights(model: Classifier, path: &Path) -> Result<Classifier, StageError> {
    crate::weights::load_module(model, path)
}

/// Rebuilds the trained classifier in `model_dir` on `device`, in inference mode.
pub fn load_model(
    model_dir: &Path,
    device: &Device,
) -> Result<(ModelFile, Classifier), StageError> {
    let file = ModelFile::read(model_dir)?;
    let model = Classifier::new(&file.spec, device)?;
    let model = load_weights(model, &model_dir.join(WEIGHTS_FILE))?;
    Ok((file, model))
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::classifiers::config::Architecture;

    fn spec(architecture: Architecture) -> ModelSpec {
        ModelSpec {
            width: 0.25,
            depth: 0.3,
            in_channels: 1,
            num_classes: 4,
            ..ModelSpec::published(architecture)
        }
    }

    #[test]
    fn safetensors_round_trip_keeps_outputs_and_bytes() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let x = Tensor::<4>::random([2, 1, 32, 32], Distribution::Default, &device);
        for architecture in [Architecture::ResNet50, Architecture::ConvNextTiny] {
            // A forward pass in training mode moves BatchNorm's running statistics off
            // their initial values, so the round trip has to carry them.
            let trained = Classifier::new(&spec(architecture), &device.clone().autodiff())
                .unwrap()
                .init_seeded(1);
            let _ = trained.forward(x.clone().autodiff());
            let model = trained.valid();
            let before = model.forward(x.clone()).try_into_vec_as::<f32>().unwrap();

            let path = dir
                .path()
                .join(format!("{}.safetensors", architecture.name()));
            save_weights(&model, &path).unwrap();
            let first = std::fs::read(&path).unwrap();
            save_weights(&model, &path).unwrap();
            assert_eq!(
                first,
                std::fs::read(&path).unwrap(),
                "saving is byte-stable"
            );

            let fresh = Classifier::new(&spec(architecture), &device)
                .unwrap()
                .init_seeded(2);
            let loaded = load_weights(fresh, &path).unwrap();
            let after = loaded.forward(x.clone()).try_into_vec_as::<f32>().unwrap();
            assert_eq!(before, after, "{architecture:?}");
        }
    }

    #[test]
    fn loading_into_another_architecture_fails() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let model = Classifier::new(&spec(Architecture::EfficientNetB0), &device)
            .unwrap()
            .init_seeded(1);
        save_weights(&model, &path).unwrap();
        let other = Classifier::new(&spec(Architecture::ResNet50), &device).unwrap();
        assert!(matches!(
            load_weights(other, &path),
            Err(StageError::LoadWeights { .. })
        ));
        let missing = Classifier::new(&spec(Architecture::ResNet50), &device).unwrap();
        assert!(load_weights(missing, &dir.path().join("absent")).is_err());
    }
}
