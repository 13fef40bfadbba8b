//! The classifier module tree: one enum over the architectures, so the training loop,
//! weight files and prediction are written once.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::config::{Architecture, ModelSpec};
use super::convnext::{ConvNext, SMALL_DEPTHS, TINY_DEPTHS};
use super::efficientnet::EfficientNet;
use super::resnet::ResNet;
use crate::StageError;
use crate::init::{InitPolicy, SeededInit, TrainableCounter};

// A handful of classifiers exist at a time, and Burn's Module derive does not see
// through `Box`, so the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Classifier {
    ResNet(ResNet),
    EfficientNet(EfficientNet),
    ConvNext(ConvNext),
}

impl Classifier {
    /// Builds the module tree with lazily initialised parameters: nothing is allocated
    /// until a parameter is used, so building even the full-size models is cheap.
    /// Weights come from Burn's default initialisers; call [`Self::init_seeded`] before
    /// training.
    pub fn new(spec: &ModelSpec, device: &Device) -> Result<Self, StageError> {
        spec.validate()?;
        Ok(match spec.architecture {
            Architecture::ResNet50 => Self::ResNet(ResNet::new(spec, device)),
            Architecture::EfficientNetB0 => {
                Self::EfficientNet(EfficientNet::new(spec, 1.0, 1.0, device))
            }
            Architecture::EfficientNetB1 => {
                Self::EfficientNet(EfficientNet::new(spec, 1.0, 1.1, device))
            }
            Architecture::ConvNextTiny => Self::ConvNext(ConvNext::new(spec, TINY_DEPTHS, device)),
            Architecture::ConvNextSmall => {
                Self::ConvNext(ConvNext::new(spec, SMALL_DEPTHS, device))
            }
        })
    }

    /// Replaces every randomly initialised weight with values drawn from our own stream
    /// keyed by `seed`, following each architecture's reference initialisation. Burn's
    /// initialisers draw from a backend-global RNG, which other models in the same
    /// process also consume, so they cannot give reproducible weights; ours also gives
    /// the same initial weights on every backend.
    pub fn init_seeded(self, seed: u64) -> Self {
        let policy = match &self {
            Self::ResNet(_) => InitPolicy::TorchvisionResNet,
            Self::EfficientNet(_) => InitPolicy::TorchvisionEfficientNet,
            Self::ConvNext(_) => InitPolicy::ConvNext,
        };
        self.map(&mut SeededInit::new(seed, policy))
    }

    /// Logits [batch, classes]; dropout is active only when a mask is given.
    pub fn forward_masked(&self, x: Tensor<4>, mask: Option<Tensor<2>>) -> Tensor<2> {
        match self {
            Self::ResNet(m) => m.forward(x, mask),
            Self::EfficientNet(m) => m.forward(x, mask),
            Self::ConvNext(m) => m.forward(x, mask),
        }
    }

    /// Logits [batch, classes] without dropout.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_masked(x, None)
    }

    /// Penultimate features [batch, num_features] (pooled, before dropout and the head):
    /// the embedding that domain FID and k-NN quality metrics are computed in.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Self::ResNet(m) => m.features(x),
            Self::EfficientNet(m) => m.features(x),
            Self::ConvNext(m) => m.features(x),
        }
    }

    /// Width of the features the dropout mask applies to.
    pub fn num_features(&self) -> usize {
        match self {
            Self::ResNet(m) => m.num_features(),
            Self::EfficientNet(m) => m.num_features(),
            Self::ConvNext(m) => m.num_features(),
        }
    }

    /// Trainable parameters, without BatchNorm's running statistics (as published counts
    /// are). Does not initialise lazy parameters.
    pub fn trainable_params(&self) -> usize {
        let mut counter = TrainableCounter::default();
        self.visit(&mut counter);
        counter.count
    }
}

/// Number of trainable parameters of the model `spec` describes. Builds the module tree
/// without allocating its weights.
pub fn param_count(spec: &ModelSpec) -> Result<usize, StageError> {
    Ok(Classifier::new(spec, &Device::flex())?.trainable_params())
}
