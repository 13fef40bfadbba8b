//! `augflow schema`, and the hidden `augflow hash`.

use std::path::PathBuf;

use super::error::CliError;

pub fn run() -> Result<(), CliError> {
    let schema = crate::kinds::pipeline_schema(&crate::kinds::Registry::builtin());
    let text = serde_json::to_string_pretty(&schema).map_err(CliError::environment)?;
    println!("{text}");
    Ok(())
}

pub fn hash(paths: &[PathBuf]) -> Result<(), CliError> {
    for path in paths {
        let (digest, _) = augflow_cache::hash_file(path).map_err(CliError::environment)?;
        println!("{digest}  {}", path.display());
    }
    Ok(())
}
