//! The old shape of a kind, kept while the kinds move to [`super::Kind`] one at a time
//! (issue 13): params checked by `check_params`, then parsed again in `run`.

use std::collections::BTreeMap;

use super::{ConfiguredKind, KindContext, KindError, KindOutcome, KindSpec, Port, StageKind};
use crate::spec::Value;

pub trait LegacyKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    fn inputs(&self) -> &'static [Port];
    fn outputs(&self) -> &'static [Port];
    fn path_params(&self) -> &'static [&'static str] {
        &[]
    }
    fn gather_inputs(&self) -> &'static [&'static str] {
        &[]
    }
    fn optional_inputs(&self) -> &'static [&'static str] {
        &[]
    }
    fn uses_device(&self) -> bool {
        false
    }
    fn check_params(&self, params: &BTreeMap<String, Value>) -> Result<(), String>;
    fn check_inputs(
        &self,
        _params: &BTreeMap<String, Value>,
        _connected: &[&str],
    ) -> Result<(), String> {
        Ok(())
    }
    fn check_upstream(
        &self,
        _params: &BTreeMap<String, Value>,
        _port: &str,
        _producer_kind: &str,
    ) -> Result<(), (String, String)> {
        Ok(())
    }
    fn run(
        &self,
        params: &BTreeMap<String, Value>,
        ctx: &KindContext<'_>,
    ) -> Result<KindOutcome, KindError>;
}

/// A legacy kind behind the new interface; its "config" is the params.
pub struct Legacy {
    spec: KindSpec,
    kind: std::sync::Arc<dyn LegacyKind>,
}

impl Legacy {
    pub fn new(kind: Box<dyn LegacyKind>) -> Legacy {
        let mut spec = KindSpec::new(kind.name(), kind.version())
            .inputs(kind.inputs())
            .outputs(kind.outputs())
            .optional(kind.optional_inputs())
            .gathering(kind.gather_inputs())
            .path_params(kind.path_params());
        spec.uses_device = kind.uses_device();
        Legacy {
            spec,
            kind: kind.into(),
        }
    }
}

impl StageKind for Legacy {
    fn spec(&self) -> &KindSpec {
        &self.spec
    }

    fn configure(
        &self,
        params: &BTreeMap<String, Value>,
    ) -> Result<Box<dyn ConfiguredKind>, String> {
        self.kind.check_params(params)?;
        Ok(Box::new(LegacyConfigured {
            spec: self.spec,
            kind: self.kind.clone(),
            params: params.clone(),
        }))
    }
}

struct LegacyConfigured {
    spec: KindSpec,
    kind: std::sync::Arc<dyn LegacyKind>,
    params: BTreeMap<String, Value>,
}

impl ConfiguredKind for LegacyConfigured {
    fn spec(&self) -> &KindSpec {
        &self.spec
    }

    fn check_inputs(&self, connected: &[&str]) -> Result<(), String> {
        self.kind.check_inputs(&self.params, connected)
    }

    fn check_upstream(&self, port: &str, producer_kind: &str) -> Result<(), (String, String)> {
        self.kind.check_upstream(&self.params, port, producer_kind)
    }

    fn run(&self, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
        self.kind.run(&self.params, ctx)
    }
}

/// Deserialises params into a kind's typed config (which denies unknown fields).
pub fn typed_params<T: serde::de::DeserializeOwned>(
    params: &BTreeMap<String, Value>,
) -> Result<T, String> {
    let object: serde_json::Map<String, Value> =
        params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    serde_json::from_value(Value::Object(object)).map_err(|err| err.to_string())
}
