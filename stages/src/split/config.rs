//! The patient split's typed config.

use serde::{Deserialize, Serialize};

use crate::StageError;

/// How far the fractions may be from summing to 1 (YAML decimals are not exact).
const SUM_TOLERANCE: f64 = 1e-6;

/// Config of the patient split.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Fraction of each class's patients that go to train.
    #[serde(default = "default_train")]
    pub train: f64,
    /// Fraction of each class's patients that go to val; with `kfold`, the fraction of
    /// the patients outside the test fold.
    #[serde(default = "default_val")]
    pub val: f64,
    /// Fraction of each class's patients that go to test; ignored with `kfold`.
    #[serde(default = "default_test")]
    pub test: f64,
    /// Cross-validation: the test part is one of k folds of patients instead.
    #[serde(default)]
    pub kfold: Option<KFold>,
    /// When every image already carries a part (`split` in its record, e.g. from a
    /// `train/val/test` folder layout), keep those parts instead of drawing new ones.
    #[serde(default = "default_respect_existing")]
    pub respect_existing: bool,
}

/// Which of `k` folds is the test part.
#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KFold {
    /// Number of folds, at least 2.
    pub k: u32,
    /// The test fold, counted from 0 (so 0..k).
    pub fold: u32,
}

fn default_train() -> f64 {
    0.7
}

fn default_val() -> f64 {
    0.1
}

fn default_test() -> f64 {
    0.2
}

fn default_respect_existing() -> bool {
    true
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            train: default_train(),
            val: default_val(),
            test: default_test(),
            kfold: None,
            respect_existing: default_respect_existing(),
        }
    }
}

impl SplitConfig {
    /// Checks everything the split relies on, naming the offending values.
    pub fn validate(&self) -> Result<(), StageError> {
        let invalid = |msg: String| Err(StageError::InvalidConfig(msg));
        for (name, value) in [
            ("train", self.train),
            ("val", self.val),
            ("test", self.test),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return invalid(format!("{name} {value} is outside 0..=1"));
            }
        }
        let sum = self.train + self.val + self.test;
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            return invalid(format!(
                "train {} + val {} + test {} = {sum}; the fractions must sum to 1",
                self.train, self.val, self.test
            ));
        }
        if let Some(KFold { k, fold }) = self.kfold {
            if k < 2 {
                return invalid(format!("kfold k {k} is below 2"));
            }
            if fold >= k {
                return invalid(format!(
                    "kfold fold {fold} is outside 0..{k} (folds count from 0)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(cfg: &SplitConfig) -> String {
        cfg.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_70_10_20() {
        let cfg: SplitConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, SplitConfig::default());
        cfg.validate().unwrap();
        assert!(serde_json::from_str::<SplitConfig>(r#"{"tarin": 0.7}"#).is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let cfg = SplitConfig {
            train: 0.8,
            ..SplitConfig::default()
        };
        let msg = message(&cfg);
        assert!(
            msg.contains("train 0.8") && msg.contains("val 0.1") && msg.contains("test 0.2"),
            "{msg}"
        );
        let cfg = SplitConfig {
            train: 1.2,
            val: -0.2,
            ..SplitConfig::default()
        };
        assert!(message(&cfg).contains("train 1.2"));
        let cfg = SplitConfig {
            kfold: Some(KFold { k: 1, fold: 0 }),
            ..SplitConfig::default()
        };
        assert!(message(&cfg).contains("k 1"));
        let cfg = SplitConfig {
            kfold: Some(KFold { k: 5, fold: 5 }),
            ..SplitConfig::default()
        };
        assert!(message(&cfg).contains("fold 5"));
        // 0.7 + 0.1 + 0.2 is not exactly 1 in binary; the tolerance absorbs it.
        let cfg = SplitConfig {
            train: 0.6,
            val: 0.3,
            test: 0.1,
            ..SplitConfig::default()
        };
        cfg.validate().unwrap();
    }
}
