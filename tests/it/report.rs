//! `pipelines/quickstart.yaml` scaled down, then `augflow report`: the report's numbers are
//! those of the score artifacts, and adding one amount reruns only its nodes and the report.

use std::collections::BTreeMap;

use crate::common::{TestProject, names};

fn scaled_down() -> TestProject {
    let project = TestProject::new(include_str!("../../pipelines/quickstart.yaml"));
    for (from, to) in [
        (
            "      size: ${size}\n  split:",
            "      size: ${size}\n      classes: {healthy: 30, bacterial: 20, viral: 20, covid19: 20, fungal: 20}\n  split:",
        ),
        ("epochs: 8", "epochs: 1"),
        ("gan_steps: 1500", "gan_steps: 4"),
        ("ddpm_steps: 200", "ddpm_steps: 4"),
        ("sample_n: 100", "sample_n: 10"),
        ("amount: [50, 100]", "amount: [3, 6]"),
        ("amount: [50, 100]", "amount: [3, 6]"),
        ("amount: [50, 100]", "amount: [3, 6]"),
        ("epochs: 8", "epochs: 1"),
        ("ddpm: {steps: 20}", "ddpm: {steps: 2}"),
    ] {
        project.edit_pipeline(from, to);
    }
    project
}

fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(','))
                .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn accuracy(project: &TestProject, node: &str) -> f64 {
    let text = project.read(&format!(".augflow/out/{node}/scores/metrics.json"));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["accuracy"].as_f64().unwrap()
}

#[test]
fn quickstart_report_matches_the_scores_and_a_new_amount_reruns_only_its_nodes() {
    let project = scaled_down();
    let output = project.augflow(&["report", "--backend", "cpu", "-j", "2"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = project.read("report/index.html");
    assert!(html.contains("<h2>Provenance</h2>"), "provenance inserted");
    assert_eq!(
        html.matches("<svg").count(),
        2 + 2 + 1,
        "two heatmaps, two bar charts, one scatter"
    );
    assert!(
        html.contains("mean per-class FID (domain features)"),
        "the scatter names the feature space of its FIDs"
    );
    assert!(
        html.contains("data:image/png;base64,"),
        "sample grid embedded"
    );

    // Recompute two cells from the score artifacts.
    let rows = csv_rows(&project.read("report/tables.csv"));
    for (generator, classifier, amount) in
        [("gan", "resnet50", "3"), ("ddpm", "convnext_tiny", "6")]
    {
        let row = rows
            .iter()
            .find(|r| {
                r["generator"] == generator
                    && r["classifier"] == classifier
                    && r["amount"] == amount
            })
            .unwrap_or_else(|| panic!("no row for {generator}/{classifier}/{amount}"));
        let runs: Vec<f64> = (1..=2)
            .map(|r| {
                accuracy(
                    &project,
                    &format!("score@{generator}-{classifier}-{amount}-{r}"),
                )
            })
            .collect();
        let base: Vec<f64> = (1..=2)
            .map(|r| accuracy(&project, &format!("score_base@{classifier}-{r}")))
            .collect();
        let mean = runs.iter().sum::<f64>() / 2.0;
        let delta = mean - base.iter().sum::<f64>() / 2.0;
        let parse = |key: &str| row[key].parse::<f64>().unwrap();
        assert!(
            (parse("accuracy_mean") - mean).abs() < 1e-6,
            "{row:?} vs {runs:?}"
        );
        assert!((parse("accuracy_delta") - delta).abs() < 1e-6, "{row:?}");
        let std = ((runs[0] - mean).powi(2) + (runs[1] - mean).powi(2)).sqrt();
        assert!((parse("accuracy_std") - std).abs() < 1e-6, "{row:?}");
        // Two repeats: the exact sign-flip p is 1 or 0.5.
        let p = parse("accuracy_p");
        assert!(p == 1.0 || p == 0.5, "{row:?}");
    }

    // The pooled answer per generator, recomputed from the score artifacts: the mean over
    // every classifier × amount × repeat of (run − the baseline of its classifier and
    // repeat).
    let report: serde_json::Value =
        serde_json::from_str(&project.read("report/metrics.json")).unwrap();
    for generator in ["gan", "ddpm"] {
        let mut deltas = Vec::new();
        for classifier in ["resnet50", "convnext_tiny"] {
            for amount in ["3", "6"] {
                for repeat in 1..=2 {
                    deltas.push(
                        accuracy(
                            &project,
                            &format!("score@{generator}-{classifier}-{amount}-{repeat}"),
                        ) - accuracy(&project, &format!("score_base@{classifier}-{repeat}")),
                    );
                }
            }
        }
        let want = deltas.iter().sum::<f64>() / deltas.len() as f64;
        let pooled = report["pooled"]["per_generator"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["generator"] == generator)
            .unwrap_or_else(|| panic!("no pooled row for {generator}"));
        let got = &pooled["delta"]["accuracy"];
        assert!((got["mean"].as_f64().unwrap() - want).abs() < 1e-9, "{got}");
        assert_eq!(got["pairs"], 8);
        assert_eq!(got["clusters"], 4, "classifier × repeat clusters");
        assert!(got["p_holm"].as_f64().unwrap() >= got["p"].as_f64().unwrap());
    }
    assert_eq!(report["pooled"]["holm_over"], 2);
    for heading in [
        "Does each generator help?",
        "Per generator × images added per class",
        "Per-image paired test",
        "Memorisation and class fidelity",
        "closest synthetic–real pairs",
        "All cells (exploratory)",
    ] {
        assert!(html.contains(heading), "report lacks {heading:?}");
    }
    let checks = report["quality_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2);
    for check in checks {
        assert!(check["near_copy_fraction"].is_f64(), "{check}");
        assert!(check["class_fidelity"].is_f64(), "{check}");
    }

    // One more amount: only its merge, trainings, scores and the report run.
    for _ in 0..3 {
        project.edit_pipeline("amount: [3, 6]", "amount: [3, 6, 9]");
    }
    let rerun = project.run(&["--backend", "cpu", "-j", "2"]);
    rerun.assert_ok();
    let mut expected = vec!["report".to_owned()];
    for generator in ["gan", "ddpm"] {
        expected.push(format!("augment@{generator}-9"));
        for classifier in ["resnet50", "convnext_tiny"] {
            for repeat in [1, 2] {
                expected.push(format!("train@{generator}-{classifier}-9-{repeat}"));
                expected.push(format!("score@{generator}-{classifier}-9-{repeat}"));
            }
        }
    }
    expected.sort();
    assert_eq!(rerun.executed(), expected);
    let again = project.run(&["--backend", "cpu"]);
    assert_eq!(again.executed(), names(&[]));
}
