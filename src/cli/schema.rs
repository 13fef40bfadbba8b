//! `augflow schema`.

use super::exit;

pub fn run() -> u8 {
    match serde_json::to_string_pretty(&crate::spec::json_schema()) {
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
