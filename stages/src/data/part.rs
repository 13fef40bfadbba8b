//! The names of the parts of a data set's own split.

/// Train, validation and test, in the order the split reports them.
pub(crate) const PARTS: [&str; 3] = ["train", "val", "test"];

/// The canonical part name for a folder name or CSV value, case-insensitively.
pub(crate) fn parse_part(name: &str) -> Option<&'static str> {
    PARTS
        .into_iter()
        .find(|part| part.eq_ignore_ascii_case(name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_parse_case_insensitively() {
        assert_eq!(parse_part("TRAIN"), Some("train"));
        assert_eq!(parse_part(" val "), Some("val"));
        assert_eq!(parse_part("Test"), Some("test"));
        assert_eq!(parse_part("validation"), None);
    }
}
