//! Object names on a remote, relative to its root or prefix: the local store's layout.

use super::ObjectKind;
use crate::digest::Digest;

/// Version of the remote layout, written to `<prefix>/FORMAT`.
pub const REMOTE_FORMAT: u32 = 1;

pub(crate) const FORMAT_FILE: &str = "FORMAT";
pub(crate) const OBJECTS: &str = "objects";
pub(crate) const ACTIONS: &str = "ac";

/// What `FORMAT` must contain.
pub(crate) fn format_contents() -> String {
    format!("augflow-remote {REMOTE_FORMAT}\n")
}

/// The directory of `kind`: "objects" or "ac".
pub(crate) fn kind_dir(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Blob => OBJECTS,
        ObjectKind::Action => ACTIONS,
    }
}

/// `objects/ab/cdef…` or `ac/ab/<hex>.json`, '/'-separated.
pub(crate) fn object_name(kind: ObjectKind, d: &Digest) -> String {
    let hex = d.to_hex();
    match kind {
        ObjectKind::Blob => format!("{OBJECTS}/{}/{}", &hex[..2], &hex[2..]),
        ObjectKind::Action => format!("{ACTIONS}/{}/{hex}.json", &hex[..2]),
    }
}

/// `ac/ab/<hex>.sig`: the signature of the entry for `key`, beside it.
pub(crate) fn signature_name(key: &Digest) -> String {
    let hex = key.to_hex();
    format!("{ACTIONS}/{}/{hex}.sig", &hex[..2])
}

/// The digest named by `shard`/`name` inside the directory of `kind`, or None for names this
/// layout does not produce (temp files, foreign objects).
pub(crate) fn parse_name(kind: ObjectKind, shard: &str, name: &str) -> Option<Digest> {
    if shard.len() != 2 {
        return None;
    }
    let digest = match kind {
        ObjectKind::Blob => Digest::from_hex(&format!("{shard}{name}")).ok()?,
        ObjectKind::Action => {
            let hex = name.strip_suffix(".json")?;
            if !hex.starts_with(shard) {
                return None;
            }
            Digest::from_hex(hex).ok()?
        }
    };
    // Only the lowercase spelling is ours.
    (object_name(kind, &digest) == format!("{}/{shard}/{name}", kind_dir(kind))).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let d = Digest::of_bytes(b"x");
        let hex = d.to_hex();
        let blob = object_name(ObjectKind::Blob, &d);
        assert_eq!(blob, format!("objects/{}/{}", &hex[..2], &hex[2..]));
        assert_eq!(parse_name(ObjectKind::Blob, &hex[..2], &hex[2..]), Some(d));
        let ac = object_name(ObjectKind::Action, &d);
        assert_eq!(ac, format!("ac/{}/{hex}.json", &hex[..2]));
        let name = format!("{hex}.json");
        assert_eq!(parse_name(ObjectKind::Action, &hex[..2], &name), Some(d));
    }

    #[test]
    fn rejects_foreign_names() {
        let hex = Digest::of_bytes(b"x").to_hex();
        assert_eq!(parse_name(ObjectKind::Blob, "zz", &hex[2..]), None);
        assert_eq!(parse_name(ObjectKind::Blob, &hex[..2], "tmp"), None);
        let upper = hex[2..].to_uppercase();
        assert_eq!(parse_name(ObjectKind::Blob, &hex[..2], &upper), None);
        assert_eq!(parse_name(ObjectKind::Action, &hex[..2], &hex), None);
        let wrong_shard = format!("{hex}.json");
        assert_eq!(parse_name(ObjectKind::Action, "00", &wrong_shard), None);
    }
}
