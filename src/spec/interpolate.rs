//! `${name}` substitution. A field that is exactly `${name}` takes the value with its type
//! (so `size: ${size}` stays a number); inside longer strings values are rendered as text.
//! `$${` writes a literal `${`.
//!
//! This is text substitution, as in DVC: in a shell command, `${name}` pastes the value as
//! is, so spaces or quotes in it are seen by the shell. `${name:q}` (Snakemake's `{x:q}`)
//! pastes it shell-quoted instead; it is accepted in `cmd` only.

use indexmap::IndexMap;

use super::model::Value;

/// Where names are looked up, innermost first: stage params, matrix axes, `include`
/// variables, pipeline params.
pub struct Scope<'a> {
    layers: Vec<&'a IndexMap<String, Value>>,
}

impl<'a> Scope<'a> {
    pub fn new(layers: Vec<&'a IndexMap<String, Value>>) -> Scope<'a> {
        Scope { layers }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.layers.iter().find_map(|layer| layer.get(name))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterpError {
    #[error(
        "resolve `${{{0}}}`: no stage param, matrix axis, matrix `include` variable or pipeline param has that name"
    )]
    Unknown(String),
    #[error("interpolate `${{{0}}}` into text: it is a list or a map")]
    NotScalar(String),
    #[error("parse `{0}`: `${{` is not closed by `}}`")]
    Unclosed(String),
    #[error("use `${{{0}:q}}` in `cmd` only: it shell-quotes a value for `sh -c`")]
    QuoteOutsideCmd(String),
}

/// The suffix that asks for a shell-quoted value.
const QUOTE_SUFFIX: &str = ":q";

/// Quotes `text` for a POSIX shell as Python's `shlex.quote` does: safe words stay as they
/// are, anything else is wrapped in single quotes (a `'` inside becomes `'"'"'`).
pub fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\"'\"'"))
}

/// Renders a scalar as it appears inside text.
pub fn render_scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_owned()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

pub fn interpolate_str(text: &str, scope: &Scope<'_>) -> Result<String, InterpError> {
    interpolate(text, scope, false)
}

/// Interpolates a shell command: like [`interpolate_str`], and `${name:q}` shell-quotes.
pub fn interpolate_cmd(text: &str, scope: &Scope<'_>) -> Result<String, InterpError> {
    interpolate(text, scope, true)
}

fn interpolate(text: &str, scope: &Scope<'_>, quoting: bool) -> Result<String, InterpError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| InterpError::Unclosed(text.to_owned()))?;
            let reference = after[..end].trim();
            let (name, quoted) = match reference.strip_suffix(QUOTE_SUFFIX) {
                Some(name) if quoting => (name.trim_end(), true),
                Some(name) => return Err(InterpError::QuoteOutsideCmd(name.trim_end().to_owned())),
                None => (reference, false),
            };
            let value = scope
                .get(name)
                .ok_or_else(|| InterpError::Unknown(name.to_owned()))?;
            let rendered =
                render_scalar(value).ok_or_else(|| InterpError::NotScalar(name.to_owned()))?;
            if quoted {
                out.push_str(&shell_quote(&rendered));
            } else {
                out.push_str(&rendered);
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Interpolates every string inside a value; a whole-string `${name}` keeps the value's type.
pub fn interpolate_value(value: &Value, scope: &Scope<'_>) -> Result<Value, InterpError> {
    match value {
        Value::String(text) => {
            if let Some(name) = whole_reference(text) {
                if let Some(name) = name.strip_suffix(QUOTE_SUFFIX) {
                    return Err(InterpError::QuoteOutsideCmd(name.trim_end().to_owned()));
                }
                let found = scope
                    .get(name)
                    .ok_or_else(|| InterpError::Unknown(name.to_owned()))?;
                return Ok(found.clone());
            }
            interpolate_str(text, scope).map(Value::String)
        }
        Value::Array(items) => items
            .iter()
            .map(|item| interpolate_value(item, scope))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, item) in map {
                out.insert(key.clone(), interpolate_value(item, scope)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn whole_reference(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains(['{', '}', '$'])).then(|| inner.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn inner_layers_win_and_types_survive_whole_references() {
        let stage = layer(&[("lr", json!(0.1))]);
        let top = layer(&[("lr", json!(1)), ("size", json!(32)), ("name", json!("x"))]);
        let scope = Scope::new(vec![&stage, &top]);
        assert_eq!(interpolate_value(&json!("${lr}"), &scope), Ok(json!(0.1)));
        assert_eq!(interpolate_value(&json!("${size}"), &scope), Ok(json!(32)));
        assert_eq!(
            interpolate_str("run ${name} --lr ${lr} $${HOME} $x", &scope),
            Ok("run x --lr 0.1 ${HOME} $x".to_owned())
        );
    }

    #[test]
    fn quoted_references_survive_the_shell() {
        let top = layer(&[
            ("plain", json!("run-1")),
            ("spaced", json!("a b; rm -rf x")),
            ("quote", json!("it's")),
            ("empty", json!("")),
            ("n", json!(3)),
        ]);
        let scope = Scope::new(vec![&top]);
        assert_eq!(
            interpolate_cmd(
                "echo ${plain:q} ${spaced:q} ${quote:q} ${empty:q} ${n:q} ${spaced}",
                &scope
            ),
            Ok(r#"echo run-1 'a b; rm -rf x' 'it'"'"'s' '' 3 a b; rm -rf x"#.to_owned())
        );
        // Outside commands, `:q` is refused rather than taken as part of a name.
        assert_eq!(
            interpolate_str("out/${plain:q}", &scope),
            Err(InterpError::QuoteOutsideCmd("plain".into()))
        );
        assert_eq!(
            interpolate_value(&json!("${plain:q}"), &scope),
            Err(InterpError::QuoteOutsideCmd("plain".into()))
        );
    }

    #[test]
    fn quoting_round_trips_through_sh() {
        let nasty = "x'y\"z $HOME `id` \\ *\n end";
        let top = layer(&[("v", json!(nasty))]);
        let cmd = interpolate_cmd("printf %s ${v:q}", &Scope::new(vec![&top])).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), nasty);
    }

    #[test]
    fn reports_unknown_unclosed_and_lists() {
        let top = layer(&[("list", json!([1, 2]))]);
        let scope = Scope::new(vec![&top]);
        assert_eq!(
            interpolate_str("${nope}", &scope),
            Err(InterpError::Unknown("nope".into()))
        );
        assert!(matches!(
            interpolate_str("a ${list}", &scope),
            Err(InterpError::NotScalar(_))
        ));
        assert!(matches!(
            interpolate_str("a ${oops", &scope),
            Err(InterpError::Unclosed(_))
        ));
    }
}
