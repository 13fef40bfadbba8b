//! The phantom generator's typed config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::StageError;

/// Smallest and largest supported image side, in pixels. Below 32 px the anatomy is
/// unrecognisable; above 256 px generation gets slow for no benefit to the study.
pub const MIN_SIZE: u32 = 32;
pub const MAX_SIZE: u32 = 256;

/// The classes the phantom knows how to draw.
pub const PHANTOM_CLASSES: [&str; 5] = ["healthy", "bacterial", "viral", "covid19", "fungal"];

/// Config of the phantom data set.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhantomConfig {
    /// Side of the square images, in pixels (32..=256).
    #[serde(default = "default_size")]
    #[schemars(range(min = MIN_SIZE, max = MAX_SIZE))]
    pub size: u32,
    /// Class name -> number of images.
    #[serde(default = "default_classes")]
    pub classes: BTreeMap<String, u32>,
    /// A patient's images share anatomy and findings but differ in exposure, position and
    /// noise, like follow-up films; the last patient of a class may have fewer.
    #[serde(default = "default_per_patient")]
    #[schemars(range(min = 1))]
    pub images_per_patient: u32,
}

fn default_size() -> u32 {
    64
}

/// The class sizes of the study the phantom stands in for (1,082 images, imbalanced).
fn default_classes() -> BTreeMap<String, u32> {
    [
        ("healthy", 673),
        ("fungal", 125),
        ("covid19", 110),
        ("bacterial", 100),
        ("viral", 74),
    ]
    .into_iter()
    .map(|(name, count)| (name.to_owned(), count))
    .collect()
}

fn default_per_patient() -> u32 {
    2
}

impl Default for PhantomConfig {
    fn default() -> Self {
        Self {
            size: default_size(),
            classes: default_classes(),
            images_per_patient: default_per_patient(),
        }
    }
}

impl PhantomConfig {
    /// Checks everything the generator relies on, naming the offending value.
    pub fn validate(&self) -> Result<(), StageError> {
        let invalid = |msg: String| Err(StageError::InvalidConfig(msg));
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return invalid(format!(
                "size {} is outside {MIN_SIZE}..={MAX_SIZE}",
                self.size
            ));
        }
        if self.classes.is_empty() {
            return invalid(format!(
                "classes is empty; name at least one of {}",
                PHANTOM_CLASSES.join(", ")
            ));
        }
        for (name, &count) in &self.classes {
            if Class::from_name(name).is_none() {
                return invalid(format!(
                    "unknown class {name:?}; the phantom knows {}",
                    PHANTOM_CLASSES.join(", ")
                ));
            }
            if count == 0 {
                return invalid(format!(
                    "class {name:?} has 0 images; each listed class needs at least 1"
                ));
            }
        }
        if self.images_per_patient == 0 {
            return invalid("images_per_patient is 0; it must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// A phantom class, i.e. which findings to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    Healthy,
    Bacterial,
    Viral,
    Covid19,
    Fungal,
}

impl Class {
    pub(super) fn from_name(name: &str) -> Option<Self> {
        match name {
            "healthy" => Some(Self::Healthy),
            "bacterial" => Some(Self::Bacterial),
            "viral" => Some(Self::Viral),
            "covid19" => Some(Self::Covid19),
            "fungal" => Some(Self::Fungal),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(cfg: &PhantomConfig) -> String {
        cfg.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_the_study_counts() {
        let cfg: PhantomConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, PhantomConfig::default());
        assert_eq!(cfg.classes.values().sum::<u32>(), 1082);
        cfg.validate().unwrap();
    }

    #[test]
    fn validate_rejects_bad_values_by_name() {
        let base = PhantomConfig::default();
        for size in [16, 300] {
            let cfg = PhantomConfig {
                size,
                ..base.clone()
            };
            assert!(message(&cfg).contains(&format!("size {size}")));
        }
        let mut cfg = base.clone();
        cfg.classes.insert("flu".into(), 3);
        assert!(message(&cfg).contains("\"flu\""));

        let mut cfg = base.clone();
        cfg.classes.insert("viral".into(), 0);
        assert!(message(&cfg).contains("\"viral\" has 0 images"));

        let cfg = PhantomConfig {
            images_per_patient: 0,
            ..base.clone()
        };
        assert!(message(&cfg).contains("images_per_patient is 0"));

        let cfg = PhantomConfig {
            classes: BTreeMap::new(),
            ..base
        };
        assert!(message(&cfg).contains("classes is empty"));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(serde_json::from_str::<PhantomConfig>(r#"{"sise": 64}"#).is_err());
    }
}
