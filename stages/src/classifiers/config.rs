//! Typed configs of the classifier stages. User YAML is parsed into these (unknown keys
//! rejected) and only then turned into Burn modules.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::StageError;

/// The supported architectures, each faithful to its published definition.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum Architecture {
    /// ResNet-50 v1.5 (stride on the 3×3 conv), BatchNorm.
    #[serde(rename = "resnet50")]
    ResNet50,
    /// EfficientNet-B0: MBConv with squeeze-excitation and swish.
    #[serde(rename = "efficientnet_b0")]
    EfficientNetB0,
    /// EfficientNet-B1: B0 with depth coefficient 1.1.
    #[serde(rename = "efficientnet_b1")]
    EfficientNetB1,
    /// ConvNeXt-Tiny: depths 3-3-9-3, widths 96-768.
    #[serde(rename = "convnext_tiny")]
    ConvNextTiny,
    /// ConvNeXt-Small: depths 3-3-27-3, widths 96-768.
    #[serde(rename = "convnext_small")]
    ConvNextSmall,
}

impl Architecture {
    pub const ALL: [Self; 5] = [
        Self::ResNet50,
        Self::EfficientNetB0,
        Self::EfficientNetB1,
        Self::ConvNextTiny,
        Self::ConvNextSmall,
    ];

    /// The serialised name, e.g. "efficientnet_b0".
    pub fn name(self) -> &'static str {
        match self {
            Self::ResNet50 => "resnet50",
            Self::EfficientNetB0 => "efficientnet_b0",
            Self::EfficientNetB1 => "efficientnet_b1",
            Self::ConvNextTiny => "convnext_tiny",
            Self::ConvNextSmall => "convnext_small",
        }
    }
}

/// Everything needed to build a classifier's module tree (not its weights).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub architecture: Architecture,
    /// Channel multiplier on top of the architecture's own (1.0 = published size).
    pub width: f64,
    /// Block-count multiplier on top of the architecture's own (1.0 = published size).
    pub depth: f64,
    /// 1 for grayscale; 3 only to compare with published parameter counts.
    pub in_channels: usize,
    pub num_classes: usize,
    /// Dropout before the final linear layer.
    pub dropout: f64,
}

impl ModelSpec {
    /// The published model: 3-channel input, 1000 ImageNet classes.
    pub fn published(architecture: Architecture) -> Self {
        Self {
            architecture,
            width: 1.0,
            depth: 1.0,
            in_channels: 3,
            num_classes: 1000,
            dropout: 0.5,
        }
    }

    pub fn validate(&self) -> Result<(), StageError> {
        let invalid = |msg: String| Err(StageError::InvalidConfig(msg));
        if !(self.width.is_finite() && self.width > 0.0 && self.width <= 4.0) {
            return invalid(format!("width {} is outside (0, 4]", self.width));
        }
        if !(self.depth.is_finite() && self.depth > 0.0 && self.depth <= 4.0) {
            return invalid(format!("depth {} is outside (0, 4]", self.depth));
        }
        if self.in_channels == 0 {
            return invalid("in_channels is 0".to_owned());
        }
        if self.num_classes < 2 {
            return invalid(format!(
                "{} classes; a classifier needs at least 2",
                self.num_classes
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return invalid(format!("dropout {} is outside [0, 1)", self.dropout));
        }
        Ok(())
    }
}

/// Seeded data augmentation, applied to training images only. Each image of each epoch
/// draws from its own random stream, so results do not depend on batch order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Mirror left-right with probability 0.5 (off by default, see [`Default`]).
    pub hflip: bool,
    /// Rotation drawn uniformly from ±max_rotate_deg degrees.
    pub max_rotate_deg: f64,
    /// Shift drawn uniformly from ±max_translate of the image side, per axis.
    pub max_translate: f64,
    /// Zoom factor drawn uniformly from 1 ± max_scale.
    pub max_scale: f64,
    /// Added to intensities in [0, 1], drawn from ±brightness.
    pub brightness: f64,
    /// Contrast factor drawn from 1 ± contrast, around the image mean.
    pub contrast: f64,
    /// Standard deviation of added Gaussian noise, in [0, 1] intensity units.
    pub noise_std: f64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        // Close to the study's "strong" albumentations set (ShiftScaleRotate with rotate 10°
        // and shift 0.1, RandomBrightnessContrast at its ±0.2 defaults), without a flip: a
        // mirrored radiograph never occurs in the test set. The study's zoom (±0.5) is
        // narrowed to ±0.1 (albumentations' own default) for images of 32–64 px.
        Self {
            hflip: false,
            max_rotate_deg: 10.0,
            max_translate: 0.1,
            max_scale: 0.1,
            brightness: 0.2,
            contrast: 0.2,
            noise_std: 0.0,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> Self {
        Self {
            hflip: false,
            max_rotate_deg: 0.0,
            max_translate: 0.0,
            max_scale: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            noise_std: 0.0,
        }
    }

    fn validate(&self) -> Result<(), StageError> {
        let fields = [
            ("max_rotate_deg", self.max_rotate_deg, 180.0),
            ("max_translate", self.max_translate, 0.5),
            ("max_scale", self.max_scale, 0.5),
            ("brightness", self.brightness, 1.0),
            ("contrast", self.contrast, 1.0),
            ("noise_std", self.noise_std, 1.0),
        ];
        for (name, value, max) in fields {
            if !(value.is_finite() && (0.0..=max).contains(&value)) {
                return Err(StageError::InvalidConfig(format!(
                    "augment.{name} {value} is outside [0, {max}]"
                )));
            }
        }
        Ok(())
    }
}

/// Config of the classifier training stage.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainClassifierConfig {
    pub architecture: Architecture,
    #[serde(default = "one")]
    pub width: f64,
    #[serde(default = "one")]
    pub depth: f64,
    /// Images are resized to image_size × image_size.
    #[serde(default = "default_image_size")]
    pub image_size: u32,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Peak learning rate of Adam; cosine-annealed per batch over the whole run.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// L2 penalty added to the gradient (PyTorch Adam's `weight_decay`).
    #[serde(default)]
    pub weight_decay: f64,
    /// Weight the loss by inverse class frequency (n / (k · n_c)).
    #[serde(default)]
    pub class_weighting: bool,
    #[serde(default)]
    pub augment: AugmentConfig,
    /// A safetensors file of ImageNet weights (timm names or our own); the engine resolves
    /// the path. The classification head is always trained from scratch.
    #[serde(default)]
    pub pretrained: Option<PathBuf>,
    #[serde(default = "default_dropout")]
    pub dropout: f64,
}

fn one() -> f64 {
    1.0
}
fn default_image_size() -> u32 {
    224
}
fn default_batch_size() -> usize {
    8
}
fn default_epochs() -> usize {
    35
}
fn default_lr() -> f64 {
    1e-4
}
fn default_dropout() -> f64 {
    0.5
}

/// Smallest image side every architecture can take (five stride-2 stages need ≥ 32 px).
pub const MIN_IMAGE_SIZE: u32 = 32;
pub const MAX_IMAGE_SIZE: u32 = 1024;

impl TrainClassifierConfig {
    /// A config with every default, for `architecture`.
    pub fn new(architecture: Architecture) -> Self {
        Self {
            architecture,
            width: one(),
            depth: one(),
            image_size: default_image_size(),
            batch_size: default_batch_size(),
            epochs: default_epochs(),
            lr: default_lr(),
            weight_decay: 0.0,
            class_weighting: false,
            augment: AugmentConfig::default(),
            pretrained: None,
            dropout: default_dropout(),
        }
    }

    pub fn model_spec(&self, in_channels: usize, num_classes: usize) -> ModelSpec {
        ModelSpec {
            architecture: self.architecture,
            width: self.width,
            depth: self.depth,
            in_channels,
            num_classes,
            dropout: self.dropout,
        }
    }

    pub fn validate(&self) -> Result<(), StageError> {
        let invalid = |msg: String| Err(StageError::InvalidConfig(msg));
        self.model_spec(1, 2).validate()?;
        self.augment.validate()?;
        if !(MIN_IMAGE_SIZE..=MAX_IMAGE_SIZE).contains(&self.image_size) {
            return invalid(format!(
                "image_size {} is outside {MIN_IMAGE_SIZE}..={MAX_IMAGE_SIZE}",
                self.image_size
            ));
        }
        if self.batch_size < 2 {
            // BatchNorm needs at least two samples to estimate a batch variance.
            return invalid(format!(
                "batch_size {} is below 2 (BatchNorm needs two samples)",
                self.batch_size
            ));
        }
        if self.epochs == 0 {
            return invalid("epochs is 0".to_owned());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return invalid(format!("lr {} is not a positive number", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return invalid(format!(
                "weight_decay {} is not a non-negative number",
                self.weight_decay
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_unknown_keys_are_rejected() {
        let cfg: TrainClassifierConfig =
            serde_json::from_str(r#"{"architecture":"efficientnet_b1"}"#).unwrap();
        assert_eq!(
            cfg,
            TrainClassifierConfig::new(Architecture::EfficientNetB1)
        );
        assert_eq!(cfg.augment.max_rotate_deg, 10.0);
        assert!(
            !cfg.augment.hflip,
            "radiographs are never mirrored by default"
        );
        cfg.validate().unwrap();

        let err = serde_json::from_str::<TrainClassifierConfig>(
            r#"{"architecture":"resnet50","epoch":3}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("epoch"), "{err}");
        let err = serde_json::from_str::<TrainClassifierConfig>(
            r#"{"architecture":"resnet50","augment":{"flip":true}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("flip"), "{err}");
    }

    #[test]
    fn architecture_names_round_trip() {
        for arch in Architecture::ALL {
            let json = serde_json::to_string(&arch).unwrap();
            assert_eq!(json, format!("\"{}\"", arch.name()));
            assert_eq!(serde_json::from_str::<Architecture>(&json).unwrap(), arch);
        }
    }

    #[test]
    fn validate_names_the_bad_value() {
        let mut cfg = TrainClassifierConfig::new(Architecture::ResNet50);
        cfg.image_size = 16;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("image_size 16"), "{err}");
        let mut cfg = TrainClassifierConfig::new(Architecture::ResNet50);
        cfg.augment.noise_std = -1.0;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("augment.noise_std"), "{err}");
    }
}
