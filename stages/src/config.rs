//! The one shape of a stage's config: the typed params a pipeline gives a stage, parsed
//! once (unknown params refused by `deny_unknown_fields`) and validated once, before
//! anything runs. Nothing here knows the engine.

use serde::de::DeserializeOwned;

use crate::StageError;

/// A stage's typed config.
pub trait StageConfig: DeserializeOwned + Send + Sync + 'static {
    /// Checks what deserialising cannot (ranges, combinations), naming the offending value.
    fn validate(&self) -> Result<(), StageError> {
        Ok(())
    }

    /// Parses `params` (a JSON object) into the config and validates it.
    fn from_params(params: serde_json::Value) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_value(params).map_err(ConfigError::Parse)?;
        config.validate().map_err(ConfigError::Invalid)?;
        Ok(config)
    }
}

/// Why params make no config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A missing, unknown or mistyped param.
    #[error(transparent)]
    Parse(serde_json::Error),
    /// Params of the right shape whose values the stage cannot use.
    #[error(transparent)]
    Invalid(StageError),
}

/// The stages' own configs: each type's `validate` is the check.
macro_rules! validated_by_inherent_method {
    ($($config:ty),* $(,)?) => {
        $(impl StageConfig for $config {
            fn validate(&self) -> Result<(), StageError> {
                <$config>::validate(self)
            }
        })*
    };
}

validated_by_inherent_method!(
    crate::phantom::PhantomConfig,
    crate::split::SplitConfig,
    crate::data::FolderConfig,
    crate::data::CsvConfig,
    crate::data::KermanyConfig,
    crate::data::CovidChestXrayConfig,
    crate::classifiers::TrainClassifierConfig,
    crate::generators::DdpmConfig,
    crate::generators::GanConfig,
    crate::generators::SampleConfig,
    crate::generators::latent::AutoencoderConfig,
    crate::generators::latent::DiffusionBaseConfig,
    crate::generators::latent::FinetuneConfig,
    crate::generators::latent::LoraConfig,
    crate::generators::latent::DreamboothConfig,
    crate::generators::latent::MergeLoraConfig,
    crate::generators::sd::ImportSdConfig,
    crate::generators::sd::SdLoraConfig,
    crate::synthetic::QualityConfig,
);

/// `augment.merge` has nothing to check beyond its fields' types.
impl StageConfig for crate::synthetic::MergeConfig {}
