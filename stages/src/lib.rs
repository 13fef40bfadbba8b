//! Machine-learning stages for augflow: plain, typed stage functions that the engine
//! adapts into content-hashed pipeline stages.
//!
//! - [`image_set`]: the on-disk image-set artifact (`images/<class>/*.png` + `images.json`)
//!   shared by every data stage.
//! - [`phantom`]: the embedded default data set, a deterministic procedural generator of
//!   chest-radiograph-like images, so a new user can run a study without downloading data.

pub mod image_set;
pub mod phantom;

mod error;

pub use error::StageError;

/// Version of the phantom generator's output.
///
/// Bump this whenever [`phantom::generate_phantom`] would write different bytes for the
/// same config and seed: it is part of the cache key, so forgetting it would let caches
/// serve images from the old generator.
pub const PHANTOM_VERSION: u32 = 1;
