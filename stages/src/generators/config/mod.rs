//! Typed configs of the generator stages. User YAML is parsed into these (unknown keys
//! rejected) before any Burn module exists. One file per generator family; `sample`'s config,
//! which draws from every family, has its own.

mod ddpm;
mod gan;
mod sample;

pub use ddpm::{DdpmConfig, NoiseSchedule, SelectionConfig, UNetSpec};
pub use gan::{AdaConfig, GanConfig, GanSelectionConfig, StyleGanSpec};
pub use sample::{GeneratorFamily, SampleConfig, Sampler};

use crate::StageError;

/// Smallest and largest generated image side.
pub const MIN_GEN_SIZE: u32 = 16;
pub const MAX_GEN_SIZE: u32 = 256;

/// An image side every generator can be built for.
pub(crate) fn validate_size(size: u32) -> Result<(), StageError> {
    if !(MIN_GEN_SIZE..=MAX_GEN_SIZE).contains(&size) {
        return Err(StageError::InvalidConfig(format!(
            "image_size {size} is outside {MIN_GEN_SIZE}..={MAX_GEN_SIZE}"
        )));
    }
    Ok(())
}

/// The share of each class's images held out to select a checkpoint: 0 (keep the last EMA
/// weights) or in (0, 0.5).
pub(crate) fn validate_holdout(holdout: f64) -> Result<(), StageError> {
    if !(holdout == 0.0 || (holdout > 0.0 && holdout < 0.5)) {
        return Err(StageError::InvalidConfig(format!(
            "selection.holdout {holdout} is neither 0 (keep the last EMA weights) nor in (0, 0.5)"
        )));
    }
    Ok(())
}
