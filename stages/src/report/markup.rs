//! Text escaping for the report's HTML pages and SVG plots.

/// `text` with `&`, `<`, `>` and `"` escaped: safe as HTML or SVG text and as a quoted
/// attribute value.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
