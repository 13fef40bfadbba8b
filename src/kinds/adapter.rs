//! Kinds as data: a [`KindSpec`] says what the graph checks (ports, version, path params),
//! and one generic adapter, [`Kind`], runs a function over the kind's typed
//! [`StageConfig`]. The graph check parses and validates a node's params once
//! ([`StageKind::configure`]) and keeps the result on the node; key, run and show use it.

use std::collections::BTreeMap;
use std::fmt;

use augflow_stages::StageConfig;
use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::{KindContext, KindError, KindOutcome, Port};
use crate::spec::Value;

/// What the engine knows of a kind before anything runs.
#[derive(Debug, Clone, Copy)]
pub struct KindSpec {
    pub name: &'static str,
    /// Part of every key the kind makes: bump it when the kind's code changes what it
    /// produces for the same inputs and params.
    pub version: u32,
    pub inputs: &'static [Port],
    pub outputs: &'static [Port],
    /// Input ports that may be left unconnected.
    pub optional_inputs: &'static [&'static str],
    /// Input ports that gather many artifacts: `<stage>@*.<output>` in the YAML connects
    /// every node of a matrix stage, each arriving as `<port>[axis=value,…]` (see
    /// [`super::gathered`]).
    pub gather_inputs: &'static [&'static str],
    /// Params that name a file or folder relative to the pipeline file. The engine checks
    /// them like shell `deps`, puts their content digests into the key, infers edges from
    /// other stages' outputs, and passes them resolved in `KindContext::paths`.
    pub path_params: &'static [&'static str],
    /// True for kinds that compute on the `--backend` device (training, sampling, scoring
    /// with a network): on a GPU backend the scheduler gives each such node one GPU unless
    /// the stage declares `resources.gpus`.
    pub uses_device: bool,
}

impl KindSpec {
    /// A kind without ports, optional or gathering inputs, path params or device.
    pub const fn new(name: &'static str, version: u32) -> KindSpec {
        KindSpec {
            name,
            version,
            inputs: &[],
            outputs: &[],
            optional_inputs: &[],
            gather_inputs: &[],
            path_params: &[],
            uses_device: false,
        }
    }

    pub const fn inputs(self, inputs: &'static [Port]) -> KindSpec {
        KindSpec { inputs, ..self }
    }

    pub const fn outputs(self, outputs: &'static [Port]) -> KindSpec {
        KindSpec { outputs, ..self }
    }

    pub const fn optional(self, optional_inputs: &'static [&'static str]) -> KindSpec {
        KindSpec {
            optional_inputs,
            ..self
        }
    }

    pub const fn gathering(self, gather_inputs: &'static [&'static str]) -> KindSpec {
        KindSpec {
            gather_inputs,
            ..self
        }
    }

    pub const fn path_params(self, path_params: &'static [&'static str]) -> KindSpec {
        KindSpec {
            path_params,
            ..self
        }
    }

    pub const fn on_device(self) -> KindSpec {
        KindSpec {
            uses_device: true,
            ..self
        }
    }
}

/// A kind's function: the node's config and context → what to record beside its outputs.
pub type RunFn<C> = fn(&C, &KindContext<'_>) -> Result<KindOutcome, KindError>;
/// Checks which input ports are connected when that depends on the config (an optional
/// input that one mode needs and another refuses). `connected` holds port names.
pub type InputsCheck<C> = fn(&C, &[&str]) -> Result<(), String>;
/// Checks the config against the kind of the stage connected to input `port` (a param
/// that applies to one generator family only, say): `(port, producer kind)` → the
/// offending param's name and why, so the error points at its line.
pub type UpstreamCheck<C> = fn(&C, &str, &str) -> Result<(), (String, String)>;

/// A registered kind, as the registry holds it.
pub trait StageKind: Send + Sync {
    fn spec(&self) -> &KindSpec;
    /// Parses params into the kind's config and validates it: the one time, in the graph
    /// check.
    fn configure(
        &self,
        params: &BTreeMap<String, Value>,
    ) -> Result<Box<dyn ConfiguredKind>, String>;
    /// The JSON Schema of the kind's params: its config type's.
    fn params_schema(&self, generator: &mut SchemaGenerator) -> Schema;
}

/// A kind with one node's parsed and validated config.
pub trait ConfiguredKind: Send + Sync {
    fn spec(&self) -> &KindSpec;
    fn check_inputs(&self, connected: &[&str]) -> Result<(), String>;
    fn check_upstream(&self, port: &str, producer_kind: &str) -> Result<(), (String, String)>;
    fn run(&self, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError>;
}

/// The one adapter: a spec, a config type and a function (plus optional checks).
pub struct Kind<C> {
    spec: KindSpec,
    run: RunFn<C>,
    check_inputs: InputsCheck<C>,
    check_upstream: UpstreamCheck<C>,
}

impl<C: StageConfig + JsonSchema> Kind<C> {
    pub fn new(spec: KindSpec, run: RunFn<C>) -> Kind<C> {
        Kind {
            spec,
            run,
            check_inputs: |_, _| Ok(()),
            check_upstream: |_, _, _| Ok(()),
        }
    }

    pub fn with_inputs_check(self, check_inputs: InputsCheck<C>) -> Kind<C> {
        Kind {
            check_inputs,
            ..self
        }
    }

    pub fn with_upstream_check(self, check_upstream: UpstreamCheck<C>) -> Kind<C> {
        Kind {
            check_upstream,
            ..self
        }
    }
}

impl<C: StageConfig + JsonSchema> StageKind for Kind<C> {
    fn spec(&self) -> &KindSpec {
        &self.spec
    }

    fn configure(
        &self,
        params: &BTreeMap<String, Value>,
    ) -> Result<Box<dyn ConfiguredKind>, String> {
        let object = params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let config = C::from_params(Value::Object(object)).map_err(|err| err.to_string())?;
        Ok(Box::new(Configured {
            config,
            kind: *self,
        }))
    }

    fn params_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<C>()
    }
}

// Not derived: that would ask `C: Copy`, and only the function pointers are copied.
impl<C> Clone for Kind<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Kind<C> {}

struct Configured<C> {
    config: C,
    kind: Kind<C>,
}

impl<C: StageConfig> ConfiguredKind for Configured<C> {
    fn spec(&self) -> &KindSpec {
        &self.kind.spec
    }

    fn check_inputs(&self, connected: &[&str]) -> Result<(), String> {
        (self.kind.check_inputs)(&self.config, connected)
    }

    fn check_upstream(&self, port: &str, producer_kind: &str) -> Result<(), (String, String)> {
        (self.kind.check_upstream)(&self.config, port, producer_kind)
    }

    fn run(&self, ctx: &KindContext<'_>) -> Result<KindOutcome, KindError> {
        (self.kind.run)(&self.config, ctx)
    }
}

impl fmt::Debug for dyn ConfiguredKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().name)
    }
}
