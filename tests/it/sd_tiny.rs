//! `pipelines/sd-tiny.yaml` end to end on the CPU backend, importing the committed tiny
//! SD folder as a fresh clone has it: every adaptation lowers its loss on a fixed batch,
//! each generator gives N images per class, the LoRA artifact carries diffusers' file,
//! and editing only `lora_rank` reruns exactly the LoRA branch.

use std::fs;
use std::path::Path;

use crate::common::{
    ADAPTATIONS, TestProject, assert_a_new_lora_rank_reruns_only_the_lora_branch, eval_losses,
    with_adaptations,
};

const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/assets/sd-tiny");

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read assets") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn sd_tiny_pipeline_adapts_samples_and_a_new_lora_rank_reruns_only_the_lora_branch() {
    let project = TestProject::new(include_str!("../../pipelines/sd-tiny.yaml"));
    copy_tree(Path::new(ASSETS), &project.path("assets/sd-tiny"));
    let first = project.run(&["--backend", "cpu", "-j", "2"]);
    first.assert_ok();
    let generators = ADAPTATIONS;
    assert_eq!(
        first.executed(),
        with_adaptations(&["data", "split", "features", "sd"])
    );

    for stage in generators {
        let file = project.json(&format!(".augflow/out/{stage}/generator/generator.json"));
        assert_eq!(file["spec"]["family"], "stable_diffusion", "{stage}");
        let evals = eval_losses(&file);
        let want = if stage == "dreambooth" { 2 } else { 1 };
        assert_eq!(evals.len(), want, "{stage}: {}", file["losses"]);
        for series in evals {
            let (before, after) = (series[1][0].as_f64(), series[1][1].as_f64());
            assert!(
                after < before,
                "{stage} {}: {before:?} → {after:?}",
                series[0]
            );
        }
    }
    let lora_dir = project.path(".augflow/out/lora/generator");
    assert!(lora_dir.join("pytorch_lora_weights.safetensors").is_file());
    assert!(lora_dir.join("sd/unet/config.json").is_file());
    for generator in generators {
        let set = project.json(&format!(
            ".augflow/out/sample@{generator}/images/images.json"
        ));
        let images = set["images"].as_array().expect("images");
        assert_eq!(
            images.len(),
            2 * 4,
            "{generator}: four images of each class"
        );
        let source = format!("synthetic:sd_{generator}");
        assert!(
            images.iter().all(|r| r["source"] == source.as_str()),
            "{generator}: {set}"
        );
        let metrics = project.json(&format!(
            ".augflow/out/quality@{generator}/metrics/metrics.json"
        ));
        assert!(metrics.is_object(), "{generator}");
    }

    assert_a_new_lora_rank_reruns_only_the_lora_branch(&project);
}
