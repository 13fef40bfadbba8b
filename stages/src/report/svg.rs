//! The report's three plot types as plain SVG: a heatmap, grouped bars and a labelled
//! scatter. Hand-written because they are a few rectangles, circles and labels; the output
//! is deterministic text that any browser renders without fonts or scripts.

use std::fmt::Write as _;

use super::markup::escape;

const FONT: &str = "font-family=\"sans-serif\" font-size=\"11\"";

/// Blue (negative) – white – red (positive), saturating at ±`limit`.
fn diverging(value: f64, limit: f64) -> String {
    let t = (value / limit.max(f64::MIN_POSITIVE)).clamp(-1.0, 1.0);
    let fade = |full: f64| (255.0 - (255.0 - full) * t.abs()).round() as u8;
    let (r, g, b) = if t >= 0.0 {
        (255, fade(80.0), fade(80.0))
    } else {
        (fade(70.0), fade(120.0), 255)
    };
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// A heatmap of `values[row][col]` (None = no data) with a cell label of each value.
pub fn heatmap(
    title: &str,
    rows: &[String],
    cols: &[String],
    values: &[Vec<Option<f64>>],
    unit: &str,
) -> String {
    let (cell_w, cell_h, left, top) = (70.0, 28.0, 110.0, 40.0);
    let width = left + cell_w * cols.len() as f64 + 20.0;
    let height = top + cell_h * rows.len() as f64 + 40.0;
    let limit = values
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let mut svg = header(width, height, title);
    for (j, col) in cols.iter().enumerate() {
        let x = left + cell_w * (j as f64 + 0.5);
        let _ = write!(
            svg,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{}</text>",
            top - 6.0,
            escape(col)
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let y = top + cell_h * i as f64;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" {FONT}>{}</text>",
            left - 6.0,
            y + cell_h * 0.65,
            escape(row)
        );
        for (j, value) in values[i].iter().enumerate() {
            let x = left + cell_w * j as f64;
            let (fill, label) = match value {
                Some(v) => (diverging(*v, limit), format!("{v:+.2}{unit}")),
                None => ("#eeeeee".to_owned(), "–".to_owned()),
            };
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{cell_w}\" height=\"{cell_h}\" fill=\"{fill}\" stroke=\"#fff\"/>"
            );
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{label}</text>",
                x + cell_w / 2.0,
                y + cell_h * 0.65
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Grouped bars: for each category, one bar per series, values in [0, 1].
pub fn grouped_bars(title: &str, categories: &[String], series: &[(String, Vec<f64>)]) -> String {
    let (left, top, plot_h) = (40.0, 30.0, 160.0);
    let group_w = 24.0 * series.len().max(1) as f64 + 20.0;
    let width = left + group_w * categories.len() as f64 + 160.0;
    let height = top + plot_h + 40.0;
    let palette = [
        "#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
    ];
    let mut svg = header(width, height, title);
    for tick in [0.0, 0.5, 1.0] {
        let y = top + plot_h * (1.0 - tick);
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\" {FONT}>{tick:.1}</text>",
            width - 150.0,
            left - 4.0,
            y + 4.0
        );
    }
    for (c, category) in categories.iter().enumerate() {
        let x0 = left + group_w * c as f64 + 10.0;
        for (s, (_, values)) in series.iter().enumerate() {
            let v = values.get(c).copied().unwrap_or(0.0).clamp(0.0, 1.0);
            let h = plot_h * v;
            let _ = write!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"22\" height=\"{h}\" fill=\"{}\"><title>{v:.3}</title></rect>",
                x0 + 24.0 * s as f64,
                top + plot_h - h,
                palette[s % palette.len()]
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{}</text>",
            x0 + 12.0 * series.len() as f64,
            top + plot_h + 16.0,
            escape(category)
        );
    }
    for (s, (name, _)) in series.iter().enumerate() {
        let y = top + 16.0 * s as f64;
        let x = width - 140.0;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" {FONT}>{}</text>",
            palette[s % palette.len()],
            x + 14.0,
            y + 9.0,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A scatter of labelled points with axis ranges padded around the data.
pub fn scatter(title: &str, x_label: &str, y_label: &str, points: &[(String, f64, f64)]) -> String {
    let (left, top, w, h) = (60.0, 30.0, 320.0, 200.0);
    let mut svg = header(left + w + 100.0, top + h + 50.0, title);
    let span = |values: Vec<f64>| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.1).max(1e-9);
        (lo - pad, hi + pad)
    };
    let (x0, x1) = span(points.iter().map(|p| p.1).collect());
    let (y0, y1) = span(points.iter().map(|p| p.2).collect());
    let _ = write!(
        svg,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#999\"/>"
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" {FONT}>{}</text>",
        left + w / 2.0,
        top + h + 36.0,
        escape(x_label)
    );
    let _ = write!(
        svg,
        "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\" {FONT}>{}</text>",
        top + h / 2.0,
        top + h / 2.0,
        escape(y_label)
    );
    for (value, at_x) in [(x0, true), (x1, true), (y0, false), (y1, false)] {
        let (x, y, anchor) = if at_x {
            (
                left + w * (value - x0) / (x1 - x0),
                top + h + 14.0,
                "middle",
            )
        } else {
            (
                left - 4.0,
                top + h * (1.0 - (value - y0) / (y1 - y0)) + 4.0,
                "end",
            )
        };
        let _ = write!(
            svg,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"{anchor}\" {FONT}>{value:.3}</text>"
        );
    }
    if y0 < 0.0 && y1 > 0.0 {
        let y = top + h * (1.0 - (0.0 - y0) / (y1 - y0));
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>",
            left + w
        );
    }
    for (label, x, y) in points {
        let px = left + w * (x - x0) / (x1 - x0);
        let py = top + h * (1.0 - (y - y0) / (y1 - y0));
        let _ = write!(
            svg,
            "<circle cx=\"{px}\" cy=\"{py}\" r=\"5\" fill=\"#4c72b0\"/><text x=\"{}\" y=\"{}\" {FONT}>{}</text>",
            px + 7.0,
            py + 4.0,
            escape(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn header(width: f64, height: f64, title: &str) -> String {
    // Wide enough for the title (about 7 px per character at 13 px bold).
    let width = width.max(16.0 + 7.5 * title.chars().count() as f64);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\"><text x=\"8\" y=\"16\" font-family=\"sans-serif\" font-size=\"13\" font-weight=\"bold\">{}</text>",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heatmap_colours_follow_the_sign_and_labels_are_escaped() {
        let svg = heatmap(
            "Δ <acc>",
            &["a&b".to_owned()],
            &["100".to_owned(), "250".to_owned()],
            &[vec![Some(2.0), Some(-1.0)]],
            "",
        );
        assert!(svg.contains("Δ &lt;acc&gt;") && svg.contains("a&amp;b"));
        assert!(
            svg.contains("fill=\"#ff5050\""),
            "+2 is the saturated red: {svg}"
        );
        assert!(svg.contains("+2.00") && svg.contains("-1.00"));
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
