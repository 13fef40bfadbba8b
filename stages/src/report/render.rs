//! The study as files: `report.html` (self-contained: inline SVG plots, images as data
//! URIs), `tables.csv` and `tables.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;

use super::markup::escape;
use super::study::{Cell, METRICS, Study, amount_key};
use super::svg;

/// Where `augflow report` inserts the run's provenance (keys, durations, backend), which
/// cannot be part of a content-addressed artifact.
pub const PROVENANCE_MARKER: &str = "<!-- augflow:provenance -->";

/// Example images of one class: real ones and each generator's synthetic ones (PNG bytes).
pub struct SampleRow {
    pub class: String,
    pub real: Vec<Vec<u8>>,
    pub synthetic: BTreeMap<String, Vec<Vec<u8>>>,
}

fn fmt_opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// One row per cell: mean ± std of each metric, and Δ with its interval and p-values.
pub fn csv(study: &Study) -> String {
    let mut out = String::from("generator,classifier,amount,repeats");
    for metric in METRICS {
        let _ = write!(
            out,
            ",{metric}_mean,{metric}_std,{metric}_delta,{metric}_ci_low,{metric}_ci_high,{metric}_p,{metric}_p_holm"
        );
    }
    out.push('\n');
    let rows = study
        .baseline
        .iter()
        .map(|(classifier, metrics)| ("none", classifier.as_str(), "0", metrics, None))
        .chain(study.cells.iter().map(|c| {
            (
                c.generator.as_str(),
                c.classifier.as_str(),
                c.amount.as_str(),
                &c.metrics,
                Some(c),
            )
        }));
    for (generator, classifier, amount, metrics, cell) in rows {
        let n = metrics.values().next().map_or(0, |m| m.n);
        let _ = write!(out, "{generator},{classifier},{amount},{n}");
        for metric in METRICS {
            let m = &metrics[metric];
            let d = cell.and_then(|c: &Cell| c.delta.get(metric));
            let _ = write!(
                out,
                ",{:.6},{:.6},{},{},{},{},{}",
                m.mean,
                m.std,
                fmt_opt(d.map(|d| d.mean), 6),
                fmt_opt(d.and_then(|d| d.ci_low), 6),
                fmt_opt(d.and_then(|d| d.ci_high), 6),
                fmt_opt(d.and_then(|d| d.p), 6),
                fmt_opt(d.and_then(|d| d.p_holm), 6),
            );
        }
        out.push('\n');
    }
    out
}

/// The main table in Markdown, in percentage points.
pub fn markdown(study: &Study) -> String {
    let mut out = super::render_pooled::markdown(&study.pooled);
    out.push_str(
        "| generator | classifier | amount | accuracy % | balanced acc. % | macro-F1 % | Δ accuracy (95% CI) | p (Holm) |\n|:--|:--|--:|--:|--:|--:|--:|--:|\n",
    );
    let pct = |m: &super::study::MeanStd| format!("{:.2} ± {:.2}", 100.0 * m.mean, 100.0 * m.std);
    for (classifier, metrics) in &study.baseline {
        let _ = writeln!(
            out,
            "| baseline | {classifier} | 0 | {} | {} | {} | | |",
            pct(&metrics["accuracy"]),
            pct(&metrics["balanced_accuracy"]),
            pct(&metrics["macro_f1"])
        );
    }
    for cell in &study.cells {
        let delta = cell.delta.get("accuracy");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell.generator,
            cell.classifier,
            cell.amount,
            pct(&cell.metrics["accuracy"]),
            pct(&cell.metrics["balanced_accuracy"]),
            pct(&cell.metrics["macro_f1"]),
            delta.map_or_else(String::new, |d| format!(
                "{:+.2} [{}, {}]",
                100.0 * d.mean,
                fmt_opt(d.ci_low.map(|v| 100.0 * v), 2),
                fmt_opt(d.ci_high.map(|v| 100.0 * v), 2)
            )),
            delta.map_or_else(String::new, |d| format!(
                "{} ({})",
                fmt_opt(d.p, 4),
                fmt_opt(d.p_holm, 4)
            )),
        );
    }
    for note in &study.notes {
        let _ = writeln!(out, "\n{note}");
    }
    out
}

/// The self-contained HTML report.
pub fn html(study: &Study, samples: &[SampleRow]) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>augflow study report</title><style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f4f4f4}td:first-child,td:nth-child(2){text-align:left}.grid img{width:64px;height:64px;image-rendering:pixelated;margin:1px}.note{color:#555}</style></head><body><h1>Synthetic data study</h1>",
    );
    for note in &study.notes {
        let _ = write!(out, "<p class=\"note\">{}</p>", escape(note));
    }
    out.push_str(&super::render_pooled::html(&study.pooled));
    out.push_str(&super::render_quality::html(&study.quality_checks));
    out.push_str("<h2>Δ accuracy per cell (percentage points, exploratory)</h2>");
    let _ = write!(
        out,
        "<p>Δ = condition − baseline of the same classifier, paired by repeat (same seed); 95% percentile bootstrap interval over repeats; exact two-sided sign-flip test; Holm correction over {} comparisons per metric. Exploratory: with few repeats a single cell cannot reach significance; the pooled tests above answer the question.</p>",
        study.comparisons
    );
    let classifiers: Vec<&String> = study.baseline.keys().collect();
    let mut all_classifiers: Vec<&String> = study.cells.iter().map(|c| &c.classifier).collect();
    all_classifiers.sort();
    all_classifiers.dedup();
    for classifier in if classifiers.is_empty() {
        &all_classifiers
    } else {
        &classifiers
    } {
        let cells: Vec<&Cell> = study
            .cells
            .iter()
            .filter(|c| &c.classifier == *classifier)
            .collect();
        let mut generators: Vec<String> = cells.iter().map(|c| c.generator.clone()).collect();
        generators.dedup();
        generators.sort();
        generators.dedup();
        let mut amounts: Vec<String> = cells.iter().map(|c| c.amount.clone()).collect();
        amounts.sort_by_key(|a| amount_key(a));
        amounts.dedup();
        let values: Vec<Vec<Option<f64>>> = generators
            .iter()
            .map(|g| {
                amounts
                    .iter()
                    .map(|a| {
                        cells
                            .iter()
                            .find(|c| &c.generator == g && &c.amount == a)
                            .and_then(|c| c.delta.get("accuracy"))
                            .map(|d| 100.0 * d.mean)
                    })
                    .collect()
            })
            .collect();
        out.push_str(&svg::heatmap(
            &format!("{classifier}: Δ accuracy, generator × images added per class"),
            &generators,
            &amounts,
            &values,
            "",
        ));
    }
    out.push_str("<h2>Per-class F1 (the rebalancing effect on rare classes)</h2>");
    for classifier in &all_classifiers {
        let mut series: Vec<(String, BTreeMap<String, f64>)> = Vec::new();
        if let Some(base) = study.baseline_class_f1.get(*classifier) {
            series.push(("baseline".to_owned(), base.clone()));
        }
        // Each generator at its largest amount.
        let mut best: BTreeMap<&str, &Cell> = BTreeMap::new();
        for cell in study.cells.iter().filter(|c| &c.classifier == *classifier) {
            let entry = best.entry(&cell.generator).or_insert(cell);
            if amount_key(&cell.amount) > amount_key(&entry.amount) {
                *entry = cell;
            }
        }
        for (generator, cell) in best {
            series.push((
                format!("{generator} +{}", cell.amount),
                cell.class_f1.clone(),
            ));
        }
        let categories: Vec<String> = series
            .first()
            .map(|(_, m)| m.keys().cloned().collect())
            .unwrap_or_default();
        let rows: Vec<(String, Vec<f64>)> = series
            .into_iter()
            .map(|(name, m)| {
                (
                    name,
                    categories
                        .iter()
                        .map(|c| m.get(c).copied().unwrap_or(0.0))
                        .collect(),
                )
            })
            .collect();
        out.push_str(&svg::grouped_bars(
            &format!("{classifier}: F1 per class"),
            &categories,
            &rows,
        ));
    }
    out.push_str("<h2>Image quality against Δ accuracy</h2>");
    if study.quality.is_empty() {
        out.push_str("<p class=\"note\">no quality scores connected</p>");
    } else {
        let points: Vec<(String, f64, f64)> = study
            .quality
            .iter()
            .map(|q| {
                (
                    q.generator.clone(),
                    q.mean_class_fid,
                    100.0 * q.mean_delta_accuracy,
                )
            })
            .collect();
        let space = match study.fid_name.as_str() {
            "fid" => "Inception features",
            "domain fid" => "domain features",
            _ => "mixed feature spaces, not comparable",
        };
        out.push_str(&svg::scatter(
            &format!("mean per-class FID ({space}) vs mean Δ accuracy"),
            "mean per-class FID",
            "Δ accuracy (pp)",
            &points,
        ));
        out.push_str("<table><tr><th>generator</th><th>mean class FID</th><th>KID</th><th>mean Δ accuracy (pp)</th></tr>");
        for q in &study.quality {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{:.2}</td><td>{}</td><td>{:+.2}</td></tr>",
                escape(&q.generator),
                q.mean_class_fid,
                fmt_opt(q.kid, 5),
                100.0 * q.mean_delta_accuracy
            );
        }
        out.push_str("</table>");
        for c in &study.correlations {
            let _ = write!(
                out,
                "<p>{}: r = {:.3}, p = {:.4} (n = {})</p>",
                c.method, c.coefficient, c.p, c.n
            );
        }
        if let Some(note) = &study.correlation_note {
            let _ = write!(out, "<p class=\"note\">{}</p>", escape(note));
        }
    }
    out.push_str("<h2>All cells (exploratory)</h2><table><tr><th>generator</th><th>classifier</th><th>amount</th><th>accuracy %</th><th>balanced accuracy %</th><th>macro-F1 %</th><th>Δ accuracy</th><th>95% CI</th><th>p</th><th>p (Holm)</th><th>Δ balanced</th><th>p (Holm)</th></tr>");
    for (classifier, m) in &study.baseline {
        let _ = write!(
            out,
            "<tr><td>baseline</td><td>{}</td><td>0</td><td>{:.2} ± {:.2}</td><td>{:.2} ± {:.2}</td><td>{:.2} ± {:.2}</td><td></td><td></td><td></td><td></td><td></td><td></td></tr>",
            escape(classifier),
            100.0 * m["accuracy"].mean,
            100.0 * m["accuracy"].std,
            100.0 * m["balanced_accuracy"].mean,
            100.0 * m["balanced_accuracy"].std,
            100.0 * m["macro_f1"].mean,
            100.0 * m["macro_f1"].std
        );
    }
    for c in &study.cells {
        let m = &c.metrics;
        let d = c.delta.get("accuracy");
        let b = c.delta.get("balanced_accuracy");
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2} ± {:.2}</td><td>{:.2} ± {:.2}</td><td>{:.2} ± {:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.generator),
            escape(&c.classifier),
            escape(&c.amount),
            100.0 * m["accuracy"].mean,
            100.0 * m["accuracy"].std,
            100.0 * m["balanced_accuracy"].mean,
            100.0 * m["balanced_accuracy"].std,
            100.0 * m["macro_f1"].mean,
            100.0 * m["macro_f1"].std,
            fmt_opt(d.map(|d| 100.0 * d.mean), 2),
            d.map_or_else(String::new, |d| format!(
                "[{}, {}]",
                fmt_opt(d.ci_low.map(|v| 100.0 * v), 2),
                fmt_opt(d.ci_high.map(|v| 100.0 * v), 2)
            )),
            fmt_opt(d.and_then(|d| d.p), 4),
            fmt_opt(d.and_then(|d| d.p_holm), 4),
            fmt_opt(b.map(|b| 100.0 * b.mean), 2),
            fmt_opt(b.and_then(|b| b.p_holm), 4),
        );
    }
    out.push_str("</table>");
    if !samples.is_empty() {
        out.push_str("<h2>Real and synthetic images</h2><table class=\"grid\">");
        for row in samples {
            let _ = write!(
                out,
                "<tr><th>{}</th><td>real<br>{}</td>",
                escape(&row.class),
                images(&row.real)
            );
            for (generator, pngs) in &row.synthetic {
                let _ = write!(out, "<td>{}<br>{}</td>", escape(generator), images(pngs));
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }
    out.push_str(PROVENANCE_MARKER);
    out.push_str("</body></html>\n");
    out
}

fn images(pngs: &[Vec<u8>]) -> String {
    pngs.iter()
        .map(|png| {
            format!(
                "<img alt=\"\" src=\"data:image/png;base64,{}\">",
                base64::engine::general_purpose::STANDARD.encode(png)
            )
        })
        .collect()
}
