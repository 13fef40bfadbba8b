//! Options every loader shares, and how they turn a raw label into a class name.

use std::collections::BTreeMap;

use crate::StageError;

/// Smallest and largest `size`. Below 8 px nothing is left of a radiograph; above
/// 4096 px the set would be larger than any detector.
pub const MIN_SIZE: u32 = 8;
pub const MAX_SIZE: u32 = 4096;

/// Declares an ingestion config: its own fields, then the four fields every loader
/// takes (serde cannot flatten into a struct that denies unknown fields, so they are
/// written here once and spliced into each config), and `options()`, which hands
/// those four over to the shared writer as an [`IngestOptions`].
macro_rules! ingest_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(serde::Deserialize, serde::Serialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
            /// Resize the shorter side to `size` and centre-crop to a square. `None` keeps the
            /// original size, and then every image must have the same size.
            #[serde(default)]
            pub size: Option<u32>,
            /// Label aliases, matched case-insensitively: `{"PNEUMONIA_bacteria": "bacterial"}`.
            #[serde(default)]
            pub labels: std::collections::BTreeMap<String, String>,
            /// Keep only these classes (after aliasing, case-insensitively); their order is
            /// the order of label indices. `None` keeps every class, sorted by name.
            #[serde(default)]
            pub classes: Option<Vec<String>>,
            /// Skip files that fail to read or decode (listed in the summary) instead of failing.
            #[serde(default)]
            pub skip_bad: bool,
        }

        impl $name {
            /// The options every loader takes, as this config sets them.
            pub fn options(&self) -> $crate::data::IngestOptions {
                $crate::data::IngestOptions {
                    size: self.size,
                    labels: self.labels.clone(),
                    classes: self.classes.clone(),
                    skip_bad: self.skip_bad,
                }
            }
        }
    };
}
pub(crate) use ingest_config;

ingest_config! {
    /// The options every loader takes; each loader's config declares them through
    /// `ingest_config!`.
    #[derive(Default)]
    pub struct IngestOptions {}
}

impl IngestOptions {
    /// Checks everything the loaders rely on, naming the offending value.
    pub fn validate(&self) -> Result<(), StageError> {
        self.label_map().map(|_| ())
    }

    /// Validates the options and builds the label mapping.
    pub(crate) fn label_map(&self) -> Result<LabelMap, StageError> {
        let invalid = |msg: String| Err(StageError::InvalidConfig(msg));
        if let Some(size) = self.size
            && !(MIN_SIZE..=MAX_SIZE).contains(&size)
        {
            return invalid(format!("size {size} is outside {MIN_SIZE}..={MAX_SIZE}"));
        }
        let mut aliases: BTreeMap<String, String> = BTreeMap::new();
        for (from, to) in &self.labels {
            if from.trim().is_empty() {
                return invalid("labels has an empty label to rename".to_owned());
            }
            if let Err(why) = check_class_name(to) {
                return invalid(format!("labels maps {from:?} to {to:?}, which {why}"));
            }
            if let Some(earlier) = aliases.insert(from.to_lowercase(), to.clone())
                && earlier != *to
            {
                return invalid(format!(
                    "labels maps {from:?} (ignoring case) to both {earlier:?} and {to:?}"
                ));
            }
        }
        let keep = match &self.classes {
            None => None,
            Some(classes) if classes.is_empty() => {
                return invalid(
                    "classes is empty; list at least one class or leave it out".to_owned(),
                );
            }
            Some(classes) => {
                for (i, class) in classes.iter().enumerate() {
                    if let Err(why) = check_class_name(class) {
                        return invalid(format!("classes entry {class:?} {why}"));
                    }
                    if classes[..i].iter().any(|c| c.eq_ignore_ascii_case(class)) {
                        return invalid(format!("classes lists {class:?} twice (ignoring case)"));
                    }
                }
                Some(classes.clone())
            }
        };
        Ok(LabelMap { aliases, keep })
    }
}

/// Raw label → class name, per the `labels` and `classes` options.
#[derive(Debug)]
pub(crate) struct LabelMap {
    /// Lower-cased raw label → class name.
    aliases: BTreeMap<String, String>,
    keep: Option<Vec<String>>,
}

impl LabelMap {
    /// The class of a raw label, or why the image is left out.
    pub(crate) fn resolve(&self, raw: &str) -> Result<String, String> {
        let label = self
            .aliases
            .get(&raw.to_lowercase())
            .map_or(raw, String::as_str);
        match &self.keep {
            None => Ok(label.to_owned()),
            // The spelling in `classes` wins, so "COVID" and "covid" end up in one class.
            Some(keep) => keep
                .iter()
                .find(|class| class.to_lowercase() == label.to_lowercase())
                .cloned()
                .ok_or_else(|| format!("class {label:?} is not in `classes`")),
        }
    }

    /// The classes listed in `classes`, if any, in their order.
    pub(crate) fn kept(&self) -> Option<&[String]> {
        self.keep.as_deref()
    }
}

/// Class names become directory names, so they must be plain, single path components.
pub(crate) fn check_class_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err("is not usable as a folder name".to_owned());
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err("has control characters or surrounding spaces".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(labels: &[(&str, &str)], classes: Option<&[&str]>) -> IngestOptions {
        IngestOptions {
            labels: labels
                .iter()
                .map(|&(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
            classes: classes.map(|c| c.iter().map(|&s| s.to_owned()).collect()),
            ..IngestOptions::default()
        }
    }

    #[test]
    fn aliases_match_case_insensitively_and_classes_filter() {
        let map = options(&[("NORMAL", "healthy")], Some(&["healthy", "Viral"]))
            .label_map()
            .unwrap();
        assert_eq!(map.resolve("normal").unwrap(), "healthy");
        assert_eq!(map.resolve("VIRAL").unwrap(), "Viral");
        let why = map.resolve("fungal").unwrap_err();
        assert!(why.contains("\"fungal\""), "{why}");

        let map = options(&[], None).label_map().unwrap();
        assert_eq!(map.resolve("COVID").unwrap(), "COVID");
    }

    #[test]
    fn bad_options_are_named() {
        let message = |o: IngestOptions| o.validate().unwrap_err().to_string();
        let sized = IngestOptions {
            size: Some(4),
            ..IngestOptions::default()
        };
        assert!(message(sized).contains("size 4"));
        assert!(message(options(&[("a", "x/y")], None)).contains("\"x/y\""));
        assert!(message(options(&[("a", "x"), ("A", "y")], None)).contains("both"));
        assert!(message(options(&[], Some(&[]))).contains("classes is empty"));
        assert!(message(options(&[], Some(&["viral", "VIRAL"]))).contains("twice"));
        assert!(message(options(&[], Some(&[".."]))).contains("\"..\""));
    }
}
