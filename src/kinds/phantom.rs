//! `dataset.phantom`: the embedded default data set, procedural chest-radiograph-like images.

use augflow_stages::phantom::{PhantomConfig, generate_phantom};

use super::{ArtifactType, KindContext, KindError, KindOutcome, KindSpec, port, port_dir};
use crate::spec::Value;

pub const SPEC: KindSpec = KindSpec::new("dataset.phantom", augflow_stages::PHANTOM_VERSION)
    .outputs(&[port("images", ArtifactType::ImageSet)]);

pub fn phantom(config: &PhantomConfig, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
    let manifest = generate_phantom(config, ctx.seed, port_dir(&ctx.outputs, "images")?)?;
    let mut outcome = KindOutcome::default();
    outcome
        .metadata
        .insert("images".to_owned(), Value::from(manifest.images.len()));
    Ok(outcome)
}
