//! `pipelines/generate.yaml` end to end on the CPU backend, scaled down by editing its
//! params: the rerun is fully cached, and a new N reruns sampling and what follows for
//! both generators but never a generator or the feature network.

use crate::common::{TestProject, names};

fn scaled_down() -> TestProject {
    let project = TestProject::new(include_str!("../../pipelines/generate.yaml"));
    project.edit_pipeline("ddpm_steps: 400", "ddpm_steps: 6");
    project.edit_pipeline("gan_steps: 400", "gan_steps: 6");
    project.edit_pipeline("sample_n: 100", "sample_n: 8");
    project.edit_pipeline("amount: [25, 50]", "amount: [3, 6]");
    project.edit_pipeline("epochs: 4", "epochs: 1");
    project.edit_pipeline("samples: 16", "samples: 4");
    project.edit_pipeline("steps: 20", "steps: 3");
    project
}

#[test]
fn generate_pipeline_caches_and_a_new_n_reruns_only_sampling_onwards() {
    let project = scaled_down();
    let first = project.run(&["--backend", "cpu", "-j", "2"]);
    first.assert_ok();
    let all = names(&[
        "data",
        "split",
        "features",
        "ddpm",
        "gan",
        "sample@ddpm",
        "sample@gan",
        "augment@ddpm-3",
        "augment@ddpm-6",
        "augment@gan-3",
        "augment@gan-6",
        "quality@ddpm",
        "quality@gan",
    ]);
    assert_eq!(first.executed(), all);

    for generator in ["ddpm", "gan"] {
        let merged: serde_json::Value = serde_json::from_str(&project.read(&format!(
            ".augflow/out/augment@{generator}-6/images/images.json"
        )))
        .unwrap();
        let images = merged["images"].as_array().unwrap();
        let synthetic = images
            .iter()
            .filter(|r| r["source"] == format!("synthetic:{generator}").as_str())
            .count();
        assert_eq!(
            synthetic,
            5 * 6,
            "{generator}: six synthetic images for each of five classes"
        );
        assert!(
            images.iter().any(|r| r.get("source").is_none()),
            "{generator}: real images kept"
        );
    }
    let gan: serde_json::Value =
        serde_json::from_str(&project.read(".augflow/out/gan/generator/generator.json")).unwrap();
    assert_eq!(gan["spec"]["family"], "gan");
    assert_eq!(gan["checkpoints"].as_array().unwrap().len(), 5, "{gan}");
    let gan_quality: serde_json::Value =
        serde_json::from_str(&project.read(".augflow/out/quality@gan/metrics/metrics.json"))
            .unwrap();
    assert_eq!(gan_quality["overall"]["synthetic_images"], 40);

    let quality: serde_json::Value =
        serde_json::from_str(&project.read(".augflow/out/quality@ddpm/metrics/metrics.json"))
            .unwrap();
    assert_eq!(quality["feature_space"], "domain");
    assert_eq!(quality["per_class"].as_object().unwrap().len(), 5);
    assert_eq!(quality["overall"]["synthetic_images"], 40);
    assert!(
        quality["overall"]["fid"].as_f64().unwrap() > 0.0,
        "{quality}"
    );
    assert!(quality["overall"]["kid"]["mean"].is_f64(), "{quality}");
    for class in ["healthy", "viral"] {
        let prdc = &quality["per_class"][class]["prdc"];
        for metric in ["precision", "recall", "density", "coverage"] {
            let value = prdc[metric].as_f64().unwrap_or(-1.0);
            assert!(value >= 0.0, "{class} {metric}: {prdc}");
        }
    }
    // Untrained DDPM output is noise: far more diverse than chest films.
    let diversity = |key: &str| quality["overall"][key]["mean"].as_f64().unwrap();
    assert!(
        diversity("synthetic_ms_ssim") < diversity("real_ms_ssim"),
        "{quality}"
    );

    let rerun = project.run(&["--backend", "cpu"]);
    rerun.assert_ok();
    assert_eq!(rerun.executed(), names(&[]));

    project.edit_pipeline("sample_n: 8", "sample_n: 9");
    let more = project.run(&["--backend", "cpu", "-j", "2"]);
    more.assert_ok();
    assert_eq!(
        more.executed(),
        names(&[
            "sample@ddpm",
            "sample@gan",
            "augment@ddpm-3",
            "augment@ddpm-6",
            "augment@gan-3",
            "augment@gan-6",
            "quality@ddpm",
            "quality@gan",
        ])
    );
}
