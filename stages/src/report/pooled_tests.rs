//! The pooled per-generator test on synthetic score sets with a planted effect.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

const GENERATORS: [&str; 5] = ["dreambooth", "ddpm", "finetune", "gan", "lora"];
const CLASSIFIERS: [&str; 3] = ["convnext_tiny", "efficientnet_b0", "resnet50"];
const AMOUNTS: [&str; 5] = ["100", "250", "500", "750", "1000"];
const REPEATS: usize = 5;

/// Standard normal by Box–Muller.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn run(generator: &str, classifier: &str, amount: &str, repeat: usize, acc: f64) -> Run {
    Run {
        generator: generator.to_owned(),
        classifier: classifier.to_owned(),
        amount: amount.to_owned(),
        repeat: repeat.to_string(),
        metrics: [("accuracy", acc), ("balanced_accuracy", acc - 0.2)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        class_f1: BTreeMap::new(),
        correct: None,
    }
}

/// A study whose scores are 0.78 + a seed effect shared by every run of one (classifier,
/// repeat) + run noise, plus `effect(generator, amount)` for the conditions.
fn study(seed: u64, effect: impl Fn(&str, &str) -> f64) -> (Vec<Run>, Vec<Run>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (seed_sd, run_sd) = (0.03, 0.025);
    let mut runs = Vec::new();
    let mut baseline = Vec::new();
    for classifier in CLASSIFIERS {
        for repeat in 1..=REPEATS {
            let shared = 0.78 + seed_sd * normal(&mut rng);
            baseline.push(run(
                "none",
                classifier,
                "0",
                repeat,
                shared + run_sd * normal(&mut rng),
            ));
            for generator in GENERATORS {
                for amount in AMOUNTS {
                    let acc = shared + effect(generator, amount) + run_sd * normal(&mut rng);
                    runs.push(run(generator, classifier, amount, repeat, acc));
                }
            }
        }
    }
    (runs, baseline)
}

fn significant(pooled: &Pooled) -> Vec<&str> {
    pooled
        .per_generator
        .iter()
        .filter(|e| e.delta["accuracy"].p_holm.is_some_and(|p| p < 0.05))
        .map(|e| e.generator.as_str())
        .collect()
}

/// The accuracy Δ of `generator`, pooled over classifiers and amounts.
fn accuracy_delta<'a>(pooled: &'a Pooled, generator: &str) -> &'a Delta {
    let effect = pooled
        .per_generator
        .iter()
        .find(|e| e.generator == generator);
    &effect
        .unwrap_or_else(|| panic!("no pooled row for {generator}"))
        .delta["accuracy"]
}

#[test]
fn the_pooled_test_finds_exactly_the_generator_with_a_planted_effect() {
    // +3 points for DreamBooth only; 20 simulated studies.
    let seeds = 20;
    let (mut found, mut exactly, mut false_positives) = (0, 0, 0);
    for seed in 0..seeds {
        let (runs, baseline) = study(seed, |g, _| if g == "dreambooth" { 0.03 } else { 0.0 });
        let pooled = pooled_with(&runs, &baseline, seed, 200);
        assert_eq!(pooled.holm_over, GENERATORS.len());
        let hits = significant(&pooled);
        found += usize::from(hits.contains(&"dreambooth"));
        exactly += usize::from(hits == ["dreambooth"]);
        false_positives += hits.iter().filter(|g| **g != "dreambooth").count();
        let d = accuracy_delta(&pooled, "dreambooth");
        assert_eq!((d.pairs, d.clusters), (75, Some(15)));
        assert!((d.mean - 0.03).abs() < 0.02, "{d:?}");
    }
    eprintln!(
        "power {found}/{seeds}, exactly the planted generator {exactly}/{seeds}, \
         false positives {false_positives}/{}",
        seeds as usize * (GENERATORS.len() - 1)
    );
    assert!(found >= 17, "power {found}/{seeds}");
    assert!(exactly >= 16, "exactly {exactly}/{seeds}");
    assert!(false_positives <= 4, "{false_positives} false positives");
}

#[test]
fn without_an_effect_nothing_is_significant_in_most_studies() {
    let seeds = 20;
    let studies_with_a_hit = (0..seeds)
        .filter(|&seed| {
            let (runs, baseline) = study(100 + seed, |_, _| 0.0);
            !significant(&pooled_with(&runs, &baseline, seed, 0)).is_empty()
        })
        .count();
    // Holm keeps the family-wise error near 5 %: 1 in 20 expected.
    assert!(studies_with_a_hit <= 3, "{studies_with_a_hit}/{seeds}");
}

#[test]
fn the_interval_covers_the_pooled_mean_and_amounts_are_split_out() {
    let (runs, baseline) = study(7, |g, a| {
        if g == "gan" && a == "1000" {
            -0.05
        } else {
            0.0
        }
    });
    let pooled = pooled_with(&runs, &baseline, 7, 1000);
    let d = accuracy_delta(&pooled, "gan");
    assert!(
        d.ci_low.unwrap() < d.mean && d.mean < d.ci_high.unwrap(),
        "{d:?}"
    );
    assert_eq!(pooled.per_amount.len(), GENERATORS.len() * AMOUNTS.len());
    let at = |amount: &str| {
        &pooled
            .per_amount
            .iter()
            .find(|e| e.generator == "gan" && e.amount.as_deref() == Some(amount))
            .unwrap()
            .delta["accuracy"]
    };
    assert!(at("1000").mean < -0.03, "{:?}", at("1000"));
    assert!(at("1000").ci_high.unwrap() < 0.0);
    assert!(at("100").mean.abs() < 0.03);
    assert_eq!(at("100").clusters, Some(CLASSIFIERS.len() * REPEATS));
    // Per-cell p-values are not part of the per-amount rows' Holm family.
    assert!(at("1000").p_holm.is_none());
}

#[test]
fn per_image_test_pairs_each_image_with_its_baseline_prediction() {
    let (mut runs, mut baseline) =
        study(3, |g, a| if g == "ddpm" && a == "500" { 0.1 } else { 0.0 });
    // 100 test images: the baseline gets the first 60 right; the best DDPM cell 70.
    for b in &mut baseline {
        b.correct = Some((0..100).map(|i| i < 60).collect());
    }
    for r in runs.iter_mut().filter(|r| r.generator == "ddpm") {
        r.correct = Some((0..100).map(|i| i < 70).collect());
    }
    let pooled = pooled_with(&runs, &baseline, 3, 200);
    let test = pooled
        .per_image
        .iter()
        .find(|t| t.generator == "ddpm")
        .unwrap();
    assert_eq!(test.amount, "500");
    assert_eq!((test.images, test.repeats), (100, REPEATS));
    assert!((test.delta_accuracy - 0.10).abs() < 1e-12);
    // Ten images flipped to right, none to wrong: p = 2/2^10 by exact count... over 100
    // images the Monte Carlo test sees every flip pattern of the ten as equally likely.
    assert!(test.p.unwrap() < 0.01, "{test:?}");
    assert!(test.ci_low.unwrap() > 0.0);
}
