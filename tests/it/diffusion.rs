//! `pipelines/diffusion.yaml` end to end on the CPU backend, scaled down by editing its
//! params: every training stage lowers its loss, each generator gives N images per class,
//! and editing only the LoRA rank reruns `lora` and what follows it, never the base.

use crate::common::{
    ADAPTATIONS, TestProject, assert_a_new_lora_rank_reruns_only_the_lora_branch, eval_losses,
    with_adaptations,
};

fn scaled_down() -> TestProject {
    let project = TestProject::new(include_str!("../../pipelines/diffusion.yaml"));
    project.edit_pipeline_all(&[
        (
            "{healthy: 168, fungal: 31, covid19: 28, bacterial: 25, viral: 19}",
            "{healthy: 16, fungal: 12, covid19: 12, bacterial: 12, viral: 12}",
        ),
        ("ae_steps: 600", "ae_steps: 40"),
        ("base_steps: 800", "base_steps: 30"),
        ("adapt_steps: 200", "adapt_steps: 12"),
        ("sample_n: 50", "sample_n: 2"),
        ("epochs: 4", "epochs: 1"),
        ("prior_images: 16", "prior_images: 2"),
        ("prior_steps: 20", "prior_steps: 2"),
        ("steps: 20\n      guidance", "steps: 3\n      guidance"),
        ("base_channels: 8", "base_channels: 4"),
        ("base_channels: 32", "base_channels: 8"),
        ("kid_subsets: 50", "kid_subsets: 5"),
        ("kid_subset_size: 100", "kid_subset_size: 4"),
        ("ms_ssim_pairs: 200", "ms_ssim_pairs: 4"),
    ]);
    project
}

/// The first and the last windowed loss of a series.
fn first_last(series: &serde_json::Value) -> (f64, f64) {
    let values: Vec<f64> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    (values[0], values[values.len() - 1])
}

#[test]
fn diffusion_pipeline_trains_samples_and_a_new_lora_rank_reruns_only_lora() {
    let project = scaled_down();
    let first = project.run(&["--backend", "cpu", "-j", "2"]);
    first.assert_ok();
    let generators = ADAPTATIONS;
    assert_eq!(
        first.executed(),
        with_adaptations(&["data", "split", "features", "autoencoder", "base"])
    );

    let ae = project.json(".augflow/out/autoencoder/autoencoder/autoencoder.json");
    let (start, end) = first_last(&ae["losses"]);
    assert!(end < start, "autoencoder loss {start} → {end}");
    // Each diffusion stage records its loss on a fixed batch before and after training.
    for stage in ["base", "finetune", "lora", "dreambooth"] {
        let file = project.json(&format!(".augflow/out/{stage}/generator/generator.json"));
        let evals = eval_losses(&file);
        let want = if stage == "dreambooth" { 5 } else { 1 };
        assert_eq!(evals.len(), want, "{stage}: {}", file["losses"]);
        for series in evals {
            let (before, after) = first_last(&series[1]);
            assert!(
                after < before,
                "{stage} {}: loss {before} → {after}",
                series[0]
            );
        }
    }
    for generator in generators {
        let set = project.json(&format!(
            ".augflow/out/sample@{generator}/images/images.json"
        ));
        let images = set["images"].as_array().unwrap();
        assert_eq!(
            images.len(),
            5 * 2,
            "{generator}: two images for each of five classes"
        );
        assert!(
            images
                .iter()
                .all(|r| r["source"] == format!("synthetic:{generator}").as_str()),
            "{generator}"
        );
    }

    // The LoRA node's key has the base artifact's digest among its inputs, and its
    // artifact (adapters + generator.json) is a fraction of the base's.
    let state = |node: &str| project.json(&format!(".augflow/state/nodes/{node}.json"));
    let (lora, base) = (state("lora"), state("base"));
    assert_eq!(
        lora["key_fields"]["inputs"]["base"],
        base["outputs"]["generator"]["manifest"]
    );
    let size = |node: &serde_json::Value| node["outputs"]["generator"]["size"].as_u64().unwrap();
    assert!(size(&lora) * 3 < size(&base), "{lora} vs {base}");

    assert_a_new_lora_rank_reruns_only_the_lora_branch(&project);
}
