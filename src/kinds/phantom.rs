//! `dataset.phantom`: the embedded default data set, procedural chest-radiograph-like images.

use std::collections::BTreeMap;

use augflow_stages::phantom::{PhantomConfig, generate_phantom};

use super::{
    ArtifactType, KindContext, KindError, KindOutcome, LegacyKind, Port, port_dir, typed_params,
};
use crate::spec::Value;

pub struct Phantom;

const OUTPUTS: &[Port] = &[Port {
    name: "images",
    ty: ArtifactType::ImageSet,
}];

impl LegacyKind for Phantom {
    fn name(&self) -> &'static str {
        "dataset.phantom"
    }

    fn version(&self) -> u32 {
        augflow_stages::PHANTOM_VERSION
    }

    fn inputs(&self) -> &'static [Port] {
        &[]
    }

    fn outputs(&self) -> &'static [Port] {
        OUTPUTS
    }

    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String> {
        let config: PhantomConfig = typed_params(params)?;
        config.validate().map_err(|err| err.to_string())
    }

    fn run(
        &self,
        params: &BTreeMap<String, Value>,
        ctx: &KindContext<'_>,
    ) -> Result<KindOutcome, KindError> {
        let config: PhantomConfig = typed_params(params).map_err(KindError::Params)?;
        let manifest = generate_phantom(&config, ctx.seed, port_dir(&ctx.outputs, "images")?)?;
        let mut outcome = KindOutcome::default();
        outcome
            .metadata
            .insert("images".to_owned(), Value::from(manifest.images.len()));
        Ok(outcome)
    }
}
