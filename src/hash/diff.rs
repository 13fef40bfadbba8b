//! What changed between two keys of one node: the answer to `augflow explain`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{KeyAction, StageKey};
use crate::spec::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum KeyChange {
    Format {
        old: u32,
        new: u32,
    },
    Action {
        old: KeyAction,
        new: KeyAction,
    },
    Param {
        name: String,
        old: Option<Value>,
        new: Option<Value>,
    },
    Input {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    Seed {
        old: Option<u64>,
        new: Option<u64>,
    },
}

pub fn diff_keys(old: &StageKey, new: &StageKey) -> Vec<KeyChange> {
    let mut changes = Vec::new();
    if old.format != new.format {
        changes.push(KeyChange::Format {
            old: old.format,
            new: new.format,
        });
    }
    if old.action != new.action {
        changes.push(KeyChange::Action {
            old: old.action.clone(),
            new: new.action.clone(),
        });
    }
    for (name, a, b) in changed(&old.params, &new.params) {
        changes.push(KeyChange::Param {
            name: name.clone(),
            old: a.cloned(),
            new: b.cloned(),
        });
    }
    for (name, a, b) in changed(&old.inputs, &new.inputs) {
        changes.push(KeyChange::Input {
            name: name.clone(),
            old: a.map(|d| d.short()),
            new: b.map(|d| d.short()),
        });
    }
    if old.seed != new.seed {
        changes.push(KeyChange::Seed {
            old: old.seed,
            new: new.seed,
        });
    }
    changes
}

/// Every name whose value differs between `old` and `new` (present on one side only
/// included), in name order, with both values.
fn changed<'a, V: PartialEq>(
    old: &'a BTreeMap<String, V>,
    new: &'a BTreeMap<String, V>,
) -> Vec<(&'a String, Option<&'a V>, Option<&'a V>)> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .map(|name| (name, old.get(name), new.get(name)))
        .filter(|(_, a, b)| a != b)
        .collect()
}

fn show<T: fmt::Display>(value: Option<&T>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), ToString::to_string)
}

fn show_action(action: &KeyAction) -> String {
    match action {
        KeyAction::Typed { kind, version } => format!("{kind} v{version}"),
        KeyAction::Shell { cmd, outs, env } => {
            let mut text = format!("`{cmd}` → [{}]", outs.join(", "));
            for (name, value) in env {
                let value = value.map_or_else(|| "unset".to_owned(), |d| d.short());
                text.push_str(&format!(" {name}={value}"));
            }
            text
        }
    }
}

impl fmt::Display for KeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyChange::Format { old, new } => write!(f, "key format: {old} → {new}"),
            KeyChange::Action { old, new } => {
                write!(f, "command: {} → {}", show_action(old), show_action(new))
            }
            KeyChange::Param { name, old, new } => {
                write!(
                    f,
                    "param {name}: {} → {}",
                    show(old.as_ref()),
                    show(new.as_ref())
                )
            }
            KeyChange::Input { name, old, new } => {
                write!(
                    f,
                    "input {name}: {} → {}",
                    show(old.as_ref()),
                    show(new.as_ref())
                )
            }
            KeyChange::Seed { old, new } => {
                write!(f, "seed: {} → {}", show(old.as_ref()), show(new.as_ref()))
            }
        }
    }
}
