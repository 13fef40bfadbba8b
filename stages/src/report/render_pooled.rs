//! The report's answer as tables: per generator (pooled), per generator × amount, and the
//! per-image test of each generator's best cell.

use std::fmt::Write as _;

use super::markup::escape;
use super::pooled::{Effect, Pooled};
use super::runs::Delta;

fn pp(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{:+.2}", 100.0 * v))
}

fn p(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.4}"))
}

fn delta_cells(d: Option<&Delta>, holm: bool) -> String {
    let Some(d) = d else {
        return if holm {
            "<td></td><td></td><td></td><td></td>".to_owned()
        } else {
            "<td></td><td></td><td></td>".to_owned()
        };
    };
    let mut out = format!(
        "<td>{}</td><td>[{}, {}]</td><td>{}</td>",
        pp(Some(d.mean)),
        pp(d.ci_low),
        pp(d.ci_high),
        p(d.p)
    );
    if holm {
        let _ = write!(out, "<td>{}</td>", p(d.p_holm));
    }
    out
}

fn effect_rows(effects: &[Effect], holm: bool) -> String {
    let mut out = String::new();
    for e in effects {
        let acc = e.delta.get("accuracy");
        let _ = write!(
            out,
            "<tr><td>{}</td>{}<td>{}</td>{}{}</tr>",
            escape(&e.generator),
            e.amount
                .as_ref()
                .map_or_else(String::new, |a| format!("<td>+{}</td>", escape(a))),
            acc.map_or(0, |d| d.pairs),
            delta_cells(acc, holm),
            delta_cells(e.delta.get("balanced_accuracy"), holm),
        );
    }
    out
}

/// The HTML sections, placed first in the report.
pub fn html(pooled: &Pooled) -> String {
    if pooled.per_generator.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("<h2>Does each generator help? (pooled over classifiers and amounts)</h2>");
    let _ = write!(
        out,
        "<p>Δ in percentage points = condition − the baseline run of the same classifier and repeat (same seed), averaged over every cell × repeat pair. 95% cluster-bootstrap interval (repeats resampled within each cell); two-sided sign-flip test whose units are the (classifier, repeat) clusters, since pairs sharing a baseline run flip together; Holm over the {} generators, per metric. This is the report's confirmatory test.</p>",
        pooled.holm_over
    );
    out.push_str("<table><tr><th>generator</th><th>pairs</th><th>Δ accuracy</th><th>95% CI</th><th>p</th><th>p (Holm)</th><th>Δ balanced acc.</th><th>95% CI</th><th>p</th><th>p (Holm)</th></tr>");
    out.push_str(&effect_rows(&pooled.per_generator, true));
    out.push_str("</table>");
    out.push_str("<h2>Per generator × images added per class (pooled over classifiers)</h2><p class=\"note\">The study's main figure; p-values uncorrected.</p>");
    out.push_str("<table><tr><th>generator</th><th>amount</th><th>pairs</th><th>Δ accuracy</th><th>95% CI</th><th>p</th><th>Δ balanced acc.</th><th>95% CI</th><th>p</th></tr>");
    out.push_str(&effect_rows(&pooled.per_amount, false));
    out.push_str("</table>");
    if !pooled.per_image.is_empty() {
        out.push_str("<h2>Per-image paired test of each generator's best cell</h2><p class=\"note\">The cell with the highest mean Δ accuracy, against its classifier's baseline on the same test images: per image, correct (cell) − correct (baseline), averaged over repeats; bootstrap over images; sign-flip test over images. Picking the best cell first makes this optimistic: read it as how large the best case is, not as a test of the generator.</p><table><tr><th>generator</th><th>classifier</th><th>amount</th><th>repeats</th><th>images</th><th>Δ accuracy</th><th>95% CI</th><th>p</th></tr>");
        for t in &pooled.per_image {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>+{}</td><td>{}</td><td>{}</td><td>{}</td><td>[{}, {}]</td><td>{}</td></tr>",
                escape(&t.generator),
                escape(&t.classifier),
                escape(&t.amount),
                t.repeats,
                t.images,
                pp(Some(t.delta_accuracy)),
                pp(t.ci_low),
                pp(t.ci_high),
                p(t.p)
            );
        }
        out.push_str("</table>");
    }
    out
}

/// The per-generator table in Markdown.
pub fn markdown(pooled: &Pooled) -> String {
    if pooled.per_generator.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "Per generator, pooled over classifiers and amounts (Δ in percentage points vs the paired baseline; cluster-bootstrap 95% CI; sign-flip p, Holm over {} generators):\n\n| generator | pairs | Δ accuracy (95% CI) | p (Holm) | Δ balanced acc. (95% CI) | p (Holm) |\n|:--|--:|--:|--:|--:|--:|\n",
        pooled.holm_over
    );
    for e in &pooled.per_generator {
        let cell = |d: Option<&Delta>| {
            d.map_or_else(
                || " | ".to_owned(),
                |d| {
                    format!(
                        "{} [{}, {}] | {} ({})",
                        pp(Some(d.mean)),
                        pp(d.ci_low),
                        pp(d.ci_high),
                        p(d.p),
                        p(d.p_holm)
                    )
                },
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            e.generator,
            e.delta.get("accuracy").map_or(0, |d| d.pairs),
            cell(e.delta.get("accuracy")),
            cell(e.delta.get("balanced_accuracy")),
        );
    }
    out.push_str("\nPer cell (exploratory, Holm over all cells):\n\n");
    out
}
