//! `augflow schema`, and the hidden `augflow hash`.

use super::exit;

pub fn run() -> u8 {
    match serde_json::to_string_pretty(&crate::kinds::pipeline_schema(
        &crate::kinds::Registry::builtin(),
    )) {
        Ok(text) => {
            println!("{text}");
            exit::OK
        }
        Err(err) => {
            super::report_error(&err);
            exit::ENVIRONMENT
        }
    }
}

pub fn hash(paths: &[std::path::PathBuf]) -> u8 {
    for path in paths {
        match augflow_cache::hash_file(path) {
            Ok((digest, _)) => println!("{digest}  {}", path.display()),
            Err(err) => {
                super::report_error(&err);
                return exit::ENVIRONMENT;
            }
        }
    }
    exit::OK
}
