//! `pipelines/generate.yaml` end to end on the CPU backend, scaled down by editing its
//! params: the rerun is fully cached, and a new N reruns sampling and what follows for
//! both generators but never a generator or the feature network.

use crate::common::TestProject;

/// The nodes from sampling on, for both generators: what a new N reruns.
const SAMPLING_ONWARDS: [&str; 8] = [
    "sample@ddpm",
    "sample@gan",
    "augment@ddpm-3",
    "augment@ddpm-6",
    "augment@gan-3",
    "augment@gan-6",
    "quality@ddpm",
    "quality@gan",
];

fn scaled_down() -> TestProject {
    let project = TestProject::new(include_str!("../../pipelines/generate.yaml"));
    project.edit_pipeline_all(&[
        ("ddpm_steps: 400", "ddpm_steps: 6"),
        ("gan_steps: 400", "gan_steps: 6"),
        ("sample_n: 100", "sample_n: 8"),
        ("amount: [25, 50]", "amount: [3, 6]"),
        ("epochs: 4", "epochs: 1"),
        ("samples: 16", "samples: 4"),
        ("steps: 20", "steps: 3"),
    ]);
    project
}

#[test]
fn generate_pipeline_caches_and_a_new_n_reruns_only_sampling_onwards() {
    let project = scaled_down();
    let upstream = ["data", "split", "features", "ddpm", "gan"];
    project
        .run(&["--backend", "cpu", "-j", "2"])
        .assert_ok()
        .assert_executed(&[upstream.as_slice(), &SAMPLING_ONWARDS].concat());

    for generator in ["ddpm", "gan"] {
        let merged = project.json(&format!(
            ".augflow/out/augment@{generator}-6/images/images.json"
        ));
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
    let gan = project.json(".augflow/out/gan/generator/generator.json");
    assert_eq!(gan["spec"]["family"], "gan");
    assert_eq!(gan["checkpoints"].as_array().unwrap().len(), 5, "{gan}");
    let gan_quality = project.json(".augflow/out/quality@gan/metrics/metrics.json");
    assert_eq!(gan_quality["overall"]["synthetic_images"], 40);

    let quality = project.json(".augflow/out/quality@ddpm/metrics/metrics.json");
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

    project
        .run(&["--backend", "cpu"])
        .assert_ok()
        .assert_executed(&[]);

    project.edit_pipeline("sample_n: 8", "sample_n: 9");
    project
        .run(&["--backend", "cpu", "-j", "2"])
        .assert_ok()
        .assert_executed(&SAMPLING_ONWARDS);
}
