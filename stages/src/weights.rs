//! Weight files of every model (classifiers, generators): safetensors via burn-store with
//! metadata cleared and no enum variants in names, so equal weights give equal bytes (the
//! cache depends on it).

use std::path::Path;

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::StageError;

pub(crate) fn module_bytes<M: Module + ModuleSnapshot>(
    module: &M,
    name: &str,
) -> Result<Vec<u8>, StageError> {
    let mut store = SafetensorsStore::from_bytes(None)
        .clear_metadata()
        .skip_enum_variants(true);
    let save_err = |reason: String| StageError::SaveWeights {
        path: name.into(),
        reason,
    };
    module
        .save_into(&mut store)
        .map_err(|err| save_err(err.to_string()))?;
    store.get_bytes().map_err(|err| save_err(err.to_string()))
}

/// Loads every tensor of `module` from `path`, requiring an exact match.
pub(crate) fn load_module<M: Module + ModuleSnapshot>(
    mut module: M,
    path: &Path,
) -> Result<M, StageError> {
    let load_err = |reason: String| load_error(path, reason);
    let result = module
        .load_from(&mut file_store(path, None)?)
        .map_err(|err| load_err(err.to_string()))?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(load_err(format!(
            "{} errors, missing {:?}, unused {:?}",
            result.errors.len(),
            result.missing.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            result.unused
        )));
    }
    Ok(module)
}

/// The safetensors file at `path` as a Burn store (names without enum variants, shapes
/// validated). With `only` (a regex of tensor paths) the load is partial: those tensors
/// are read and the module's others are left as they are.
pub(crate) fn file_store(path: &Path, only: Option<&str>) -> Result<SafetensorsStore, StageError> {
    if !path.is_file() {
        return Err(load_error(path, "the file does not exist".to_owned()));
    }
    let store = SafetensorsStore::from_file(path)
        .skip_enum_variants(true)
        .validate(true)
        .allow_partial(only.is_some());
    Ok(match only {
        Some(regex) => store.with_regex(regex),
        None => store,
    })
}

pub(crate) fn load_error(path: &Path, reason: String) -> StageError {
    StageError::LoadWeights {
        path: path.to_owned(),
        reason,
    }
}

/// One part of a weights file's problem list: "N missing tensors: `a`, `b` and K more"
/// (`what` = "missing"), naming at most 20; `None` when `names` is empty.
pub(crate) fn tensor_names_problem(what: &str, names: &[String]) -> Option<String> {
    const SHOWN: usize = 20;
    if names.is_empty() {
        return None;
    }
    let shown: Vec<&str> = names.iter().take(SHOWN).map(String::as_str).collect();
    let more = match names.len().saturating_sub(SHOWN) {
        0 => String::new(),
        more => format!(" and {more} more"),
    };
    Some(format!(
        "{} {what} tensors: `{}`{more}",
        names.len(),
        shown.join("`, `")
    ))
}

#[cfg(test)]
mod tests {
    use super::tensor_names_problem;

    #[test]
    fn long_name_lists_are_shortened() {
        let names: Vec<String> = (0..23).map(|i| format!("t{i}")).collect();
        let text = tensor_names_problem("missing", &names).unwrap();
        assert!(
            text.starts_with("23 missing tensors: `t0`, `t1`, "),
            "{text}"
        );
        assert!(text.ends_with(", `t19` and 3 more"), "{text}");
        assert_eq!(
            tensor_names_problem("unexpected", &names[..1]).as_deref(),
            Some("1 unexpected tensors: `t0`")
        );
        assert_eq!(tensor_names_problem("missing", &[]), None);
    }
}
