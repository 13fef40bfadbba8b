//! Memorisation and class fidelity in the HTML report.

use std::fmt::Write as _;

use base64::Engine as _;

use super::markup::escape;
use super::quality_checks::QualityCheck;

fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{:.1}", 100.0 * v))
}

fn num(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

fn img(png: &[u8]) -> String {
    format!(
        "<img alt=\"\" src=\"data:image/png;base64,{}\">",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

pub fn html(checks: &[QualityCheck]) -> String {
    if checks.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<h2>Memorisation and class fidelity</h2><p>Memorisation: each synthetic image's nearest real training image in the quality feature space. A near-copy is nearer than the closest 5% of real-to-real nearest-neighbour distances, so a generator that does not copy has about the real images' own rate. Class fidelity: the classifier trained on real images only (the `features` input) on the synthetic images; chance is 1/classes.</p><table><tr><th>generator</th><th>near-copies %</th><th>real-to-real %</th><th>median distance synthetic→real</th><th>median real→real</th><th>class fidelity %</th><th>per class %</th></tr>",
    );
    for c in checks {
        let per_class = c
            .class_fidelity_per_class
            .iter()
            .map(|(class, v)| format!("{}: {:.0}", escape(class), 100.0 * v))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.generator),
            pct(c.near_copy_fraction),
            pct(c.real_near_copy_fraction),
            num(c.synthetic_median_distance),
            num(c.real_median_distance),
            pct(c.class_fidelity),
            per_class
        );
    }
    out.push_str("</table>");
    for c in checks {
        for note in &c.skipped {
            let _ = write!(
                out,
                "<p class=\"note\">{}: {}</p>",
                escape(&c.generator),
                escape(note)
            );
        }
        if c.closest.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<h3>{}: the {} closest synthetic–real pairs</h3><table class=\"grid\"><tr><th>synthetic</th>",
            escape(&c.generator),
            c.closest.len()
        );
        for p in &c.closest {
            let _ = write!(
                out,
                "<td>{}<br>{}</td>",
                img(&p.synthetic_png),
                escape(&p.synthetic_class)
            );
        }
        out.push_str("</tr><tr><th>nearest real</th>");
        for p in &c.closest {
            let _ = write!(
                out,
                "<td>{}<br>{} · d={:.3}</td>",
                img(&p.real_png),
                escape(&p.real_class),
                p.distance
            );
        }
        out.push_str("</tr></table>");
    }
    out
}
