//! Raw YAML structs → typed, interpolated, matrix-expanded nodes. Every problem is
//! reported with its location and lowering goes on, so one run shows all of them.

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::diagnostic::{Diagnostics, Loc};
use super::include::{INCLUDE_KEY, include_vars};
use super::interpolate::{
    Scope, interpolate_cmd, interpolate_str, interpolate_value, render_scalar,
};
use super::matrix::{MAX_NODES, combinations, describe_count, node_count};
use super::model::Resources;
use super::model::{Action, InputRef, Located, NodeSpec, ShellAction, TypedAction, Value};
use super::paths::RelPath;
use super::raw::{RawPipeline, RawStage};

/// Returns the nodes that lowered cleanly and the names of those that did not (their
/// errors are in `diags`; later checks skip references to them).
pub fn lower(raw: &RawPipeline, diags: &mut Diagnostics) -> (Vec<NodeSpec>, Vec<String>) {
    let source = diags.source().to_owned();
    let at = |loc: &serde_saphyr::Location| Loc::from_saphyr(loc, &source);
    let top: IndexMap<String, Value> = raw
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let pipeline_seed = raw
        .seed
        .as_ref()
        .and_then(|seed| resolve_seed(seed, &Scope::new(vec![&top]), diags, at(&seed.referenced)));

    let mut nodes = Vec::new();
    let mut broken = Vec::new();
    let mut seen: HashMap<String, Loc> = HashMap::new();
    let mut total_nodes = 0usize;
    for (stage_name, stage) in &raw.stages {
        let stage_loc = at(&stage.referenced);
        if !valid_stage_name(stage_name) {
            diags.push_with_help(
                stage_loc,
                format!("use a stage name of letters, digits, `_` and `-`, not `{stage_name}`"),
                "stage declared here",
                Some("`.` separates a stage from its output and `@` marks matrix nodes"),
            );
        }
        let stage = &stage.value;
        if !check_form(stage, stage_loc, diags, &at) {
            broken.push(stage_name.clone());
            continue;
        }
        let Some(axes) = lower_axes(stage, diags, &at) else {
            broken.push(stage_name.clone());
            continue;
        };
        let count = node_count(&axes)
            .filter(|n| total_nodes.checked_add(*n).is_some_and(|t| t <= MAX_NODES));
        let Some(count) = count else {
            let loc = stage
                .matrix
                .first()
                .map_or(stage_loc, |(_, axis)| at(&axis.referenced));
            diags.push_with_help(
                loc,
                format!(
                    "shrink the matrix of stage `{stage_name}`: the pipeline would expand to more than {MAX_NODES} nodes"
                ),
                describe_count(&axes),
                Some("split the grid over several pipelines, or drop an axis"),
            );
            broken.push(stage_name.clone());
            continue;
        };
        total_nodes += count;
        let combos = combinations(&axes);
        let Some(vars) = include_vars(stage, &axes, &combos, diags, &at) else {
            broken.push(stage_name.clone());
            continue;
        };
        for (combo, vars) in combos.into_iter().zip(vars) {
            let name = node_name(stage_name, &combo);
            let node = lower_node(
                stage_name,
                &name,
                stage,
                combo,
                &vars,
                &top,
                pipeline_seed,
                diags,
                &at,
            );
            if let Some(previous) = seen.get(&name) {
                diags.push(
                    stage_loc,
                    format!(
                        "declare node `{name}` once: line {} makes it too",
                        previous.line
                    ),
                    "expands to a duplicate node",
                );
            } else {
                seen.insert(name.clone(), stage_loc);
            }
            match node {
                Some(node) => nodes.push(node),
                None => broken.push(name),
            }
        }
    }
    (nodes, broken)
}

fn valid_stage_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A typed stage has `kind`, a shell stage `cmd`; fields of the other form are errors.
fn check_form(
    stage: &RawStage,
    loc: Loc,
    diags: &mut Diagnostics,
    at: &impl Fn(&serde_saphyr::Location) -> Loc,
) -> bool {
    match (&stage.kind, &stage.cmd) {
        (Some(_), Some(cmd)) => {
            diags.push(
                at(&cmd.referenced),
                "give a stage either `kind` (typed) or `cmd` (shell), not both",
                "second form here",
            );
            false
        }
        (None, None) => {
            diags.push(
                loc,
                "give the stage a `kind` (typed) or a `cmd` (shell)",
                "stage declared here",
            );
            false
        }
        (Some(_), None) => {
            let shell_only = [
                ("deps", &stage.deps),
                ("outs", &stage.outs),
                ("metrics", &stage.metrics),
                ("env", &stage.env),
            ];
            let mut ok = true;
            for (field, values) in shell_only {
                if let Some(first) = values.first() {
                    diags.push_with_help(
                        at(&first.referenced),
                        format!("remove `{field}` from a typed stage"),
                        "only shell stages take this",
                        Some("typed stages declare their data with `inputs: {name: <stage>.<output>}`"),
                    );
                    ok = false;
                }
            }
            ok
        }
        (None, Some(_)) => {
            if let Some((_, first)) = stage.inputs.first() {
                diags.push_with_help(
                    at(&first.referenced),
                    "remove `inputs` from a shell stage",
                    "only typed stages take this",
                    Some(
                        "shell stages list files in `deps`; edges follow from other stages' `outs`",
                    ),
                );
                return false;
            }
            true
        }
    }
}

fn lower_axes(
    stage: &RawStage,
    diags: &mut Diagnostics,
    at: &impl Fn(&serde_saphyr::Location) -> Loc,
) -> Option<Vec<(String, Vec<Value>)>> {
    let mut axes = Vec::new();
    let mut ok = true;
    for (axis, values) in &stage.matrix {
        if axis == INCLUDE_KEY {
            continue;
        }
        if values.value.is_empty() {
            diags.push(
                at(&values.referenced),
                format!("give matrix axis `{axis}` at least one value"),
                "empty axis",
            );
            ok = false;
            continue;
        }
        let mut lowered = Vec::new();
        for value in &values.value {
            match render_scalar(&value.value) {
                Some(text)
                    if text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c)) =>
                {
                    lowered.push(value.value.clone());
                }
                _ => {
                    diags.push_with_help(
                        at(&value.referenced),
                        format!("use a plain scalar as a value of matrix axis `{axis}`"),
                        "not usable in a node name",
                        Some(
                            "values become part of node names: letters, digits, `.`, `_`, `+`, `-`",
                        ),
                    );
                    ok = false;
                }
            }
        }
        axes.push((axis.clone(), lowered));
    }
    ok.then_some(axes)
}

fn node_name(stage: &str, combo: &IndexMap<String, Value>) -> String {
    if combo.is_empty() {
        return stage.to_owned();
    }
    let values: Vec<String> = combo.values().filter_map(render_scalar).collect();
    format!("{stage}@{}", values.join("-"))
}

#[allow(clippy::too_many_arguments)]
fn lower_node(
    stage_name: &str,
    name: &str,
    stage: &RawStage,
    combo: IndexMap<String, Value>,
    vars: &IndexMap<String, Value>,
    top: &IndexMap<String, Value>,
    pipeline_seed: Option<u64>,
    diags: &mut Diagnostics,
    at: &impl Fn(&serde_saphyr::Location) -> Loc,
) -> Option<NodeSpec> {
    let mut ok = true;
    let outer = Scope::new(vec![&combo, vars, top]);
    let mut params = IndexMap::new();
    for (key, value) in &stage.params {
        match interpolate_value(&value.value, &outer) {
            Ok(v) => {
                params.insert(key.clone(), v);
            }
            Err(err) => {
                diags.push(at(&value.referenced), err.to_string(), "in this param");
                ok = false;
            }
        }
    }
    let scope = Scope::new(vec![&params, &combo, vars, top]);
    let seed_field = stage.seed.as_ref();
    let params_sorted: BTreeMap<String, Value> = params.clone().into_iter().collect();

    let action = if let Some(kind) = &stage.kind {
        let kind_loc = at(&kind.referenced);
        let mut inputs = BTreeMap::new();
        for (input, reference) in &stage.inputs {
            let Some((text_ref, loc)) = text(reference, "input", &scope, diags, at) else {
                ok = false;
                continue;
            };
            match text_ref.rsplit_once('.') {
                Some((node, output)) if !node.is_empty() && !output.is_empty() => {
                    inputs.insert(
                        input.clone(),
                        Located {
                            value: InputRef {
                                node: node.to_owned(),
                                output: output.to_owned(),
                            },
                            loc,
                        },
                    );
                }
                _ => {
                    diags.push_with_help(
                        loc,
                        format!("parse input `{input}`: `{text_ref}` is not `<stage>.<output>`"),
                        "expected `<stage>.<output>`",
                        Some("for example `data.images`"),
                    );
                    ok = false;
                }
            }
        }
        let params_loc = stage
            .params
            .first()
            .map_or(kind_loc, |(_, v)| at(&v.referenced));
        let param_locs = stage
            .params
            .iter()
            .map(|(key, v)| (key.clone(), at(&v.referenced)))
            .collect();
        Action::Typed(TypedAction {
            kind: kind.value.clone(),
            kind_loc,
            params: params_sorted,
            params_loc,
            param_locs,
            inputs,
        })
    } else {
        let cmd_field = stage.cmd.as_ref()?;
        let cmd_loc = at(&cmd_field.referenced);
        let cmd = match interpolate_cmd(&cmd_field.value, &scope) {
            Ok(cmd) => cmd,
            Err(err) => {
                diags.push(cmd_loc, err.to_string(), "in this command");
                return None;
            }
        };
        let env = env_names(&stage.env, diags, at, &mut ok);
        let deps = paths(&stage.deps, "dependency", &scope, diags, at, &mut ok);
        let mut outs = paths(&stage.outs, "output", &scope, diags, at, &mut ok);
        let metrics = paths(&stage.metrics, "metrics file", &scope, diags, at, &mut ok);
        let metric_paths = metrics.iter().map(|m| m.value.clone()).collect();
        outs.extend(metrics);
        Action::Shell(ShellAction {
            cmd,
            cmd_loc,
            deps,
            outs,
            metrics: metric_paths,
            params: params_sorted,
            env,
        })
    };

    let seed = match (seed_field, &action) {
        (Some(seed), _) => resolve_seed(seed, &scope, diags, at(&seed.referenced)),
        (None, Action::Typed(_)) => Some(pipeline_seed.unwrap_or(0)),
        (None, Action::Shell(_)) => None,
    };
    let loc = match &action {
        Action::Typed(t) => t.kind_loc,
        Action::Shell(s) => s.cmd_loc,
    };
    ok.then(|| NodeSpec {
        name: name.to_owned(),
        stage: stage_name.to_owned(),
        desc: stage.desc.clone(),
        matrix: combo,
        action,
        seed,
        loc,
        resources: stage
            .resources
            .map(|r| Resources {
                gpus: r.gpus,
                memory_gb: r.memory_gb,
            })
            .unwrap_or_default(),
        retries: stage.retries,
    })
}

fn resolve_seed(
    seed: &Spanned<Value>,
    scope: &Scope<'_>,
    diags: &mut Diagnostics,
    loc: Loc,
) -> Option<u64> {
    match interpolate_value(&seed.value, scope) {
        Ok(value) => match value.as_u64() {
            Some(n) => Some(n),
            None => {
                diags.push(
                    loc,
                    format!("use a non-negative integer seed, not `{value}`"),
                    "seed here",
                );
                None
            }
        },
        Err(err) => {
            diags.push(loc, err.to_string(), "in this seed");
            None
        }
    }
}

/// Interpolates one text field, reporting a failure at its location.
fn text(
    field: &Spanned<String>,
    what: &str,
    scope: &Scope<'_>,
    diags: &mut Diagnostics,
    at: &impl Fn(&serde_saphyr::Location) -> Loc,
) -> Option<(String, Loc)> {
    let loc = at(&field.referenced);
    match interpolate_str(&field.value, scope) {
        Ok(s) => Some((s, loc)),
        Err(err) => {
            diags.push(loc, err.to_string(), format!("in this {what}"));
            None
        }
    }
}

/// Environment variable names a shell stage's key depends on, sorted and deduplicated.
fn env_names(
    fields: &[Spanned<String>],
    diags: &mut Diagnostics,
    at: &impl Fn(&serde_saphyr::Location) -> Loc,
    ok: &mut bool,
) -> Vec<String> {
    let mut names = Vec::new();
    for field in fields {
        let name = field.value.as_str();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            names.push(name.to_owned());
        } else {
            diags.push(
                at(&field.referenced),
                format!("name an environment variable with letters, digits and `_`, not `{name}`"),
                "in this env entry",
            );
            *ok = false;
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Interpolates and checks a list of project-relative paths.
fn paths(
    fields: &[Spanned<String>],
    what: &str,
    scope: &Scope<'_>,
    diags: &mut Diagnostics,
    at: &impl Fn(&serde_saphyr::Location) -> Loc,
    ok: &mut bool,
) -> Vec<Located<RelPath>> {
    let mut out = Vec::new();
    for field in fields {
        let Some((raw, loc)) = text(field, what, scope, diags, at) else {
            *ok = false;
            continue;
        };
        match RelPath::parse(&raw) {
            Ok(value) => out.push(Located { value, loc }),
            Err(err) => {
                diags.push(
                    loc,
                    format!("use path `{raw}`: {err}"),
                    format!("in this {what}"),
                );
                *ok = false;
            }
        }
    }
    out
}
