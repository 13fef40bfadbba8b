//! `score.quality` with `features: inception`: the FID Inception-v3 from a weights file
//! (formula-filled by the test, with pytorch-fid's names) on tiny phantom sets, and the
//! validation of its params and inputs.

use augflow_stages::metrics::quality::inception::test_weights::write_filled_weights;

use crate::common::{TestProject, assert_mentions, rejected};

const WEIGHTS: &str = "weights/fid_inception.safetensors";

fn pipeline(quality_params: &str, extra_input: &str) -> String {
    format!(
        r#"seed: 5
stages:
  real:
    kind: dataset.phantom
    params: {{size: 32, classes: {{healthy: 3, viral: 3}}}}
  synthetic:
    kind: dataset.phantom
    params: {{size: 32, classes: {{healthy: 2, viral: 3}}, images_per_patient: 1}}
  quality:
    kind: score.quality
    inputs: {{real: real.images, synthetic: synthetic.images{extra_input}}}
    params: {{{quality_params}}}
"#
    )
}

#[test]
fn inception_features_score_quality_from_a_weights_file() {
    let project = TestProject::new(&pipeline(
        &format!(
            "features: inception, inception_weights: {WEIGHTS}, kid_subsets: 5, \
             kid_subset_size: 2, ms_ssim_pairs: 3"
        ),
        "",
    ));
    std::fs::create_dir_all(project.path("weights")).unwrap();
    write_filled_weights(&project.path(WEIGHTS)).unwrap();
    project.run(&["--backend", "cpu"]).assert_ok();

    let metrics: serde_json::Value =
        serde_json::from_str(&project.read(".augflow/out/quality/metrics/metrics.json")).unwrap();
    assert_eq!(metrics["feature_space"], "inception", "{metrics}");
    assert_eq!(metrics["fid_name"], "fid", "{metrics}");
    assert_eq!(metrics["feature_dim"], 2048, "{metrics}");
    assert_eq!(metrics["overall"]["real_images"], 6, "{metrics}");
    assert_eq!(metrics["overall"]["synthetic_images"], 5, "{metrics}");
    let fid = metrics["overall"]["fid"].as_f64().unwrap_or(-1.0);
    assert!(fid.is_finite() && fid > 0.0, "{metrics}");
    for class in ["healthy", "viral"] {
        assert!(
            metrics["per_class"][class]["fid"].is_f64(),
            "{class}: {metrics}"
        );
    }
    assert!(metrics["mean_class_fid"].is_f64(), "{metrics}");
    // The weights file's content is part of the node's key (a path param).
    let state: serde_json::Value =
        serde_json::from_str(&project.read(".augflow/state/nodes/quality.json")).unwrap();
    let weights = std::fs::read(project.path(WEIGHTS)).unwrap();
    assert_eq!(
        state["key_fields"]["inputs"]["path:inception_weights"],
        blake3::hash(&weights).to_hex().as_str(),
        "{state}"
    );
}

/// Refused before anything runs ([`rejected`]), with the message.
#[track_caller]
fn assert_rejected(pipeline: &str, needle: &str) {
    assert_mentions(&rejected(pipeline), &[needle]);
}

#[test]
fn feature_space_params_and_inputs_are_validated() {
    assert_rejected(
        &pipeline("features: inception", ""),
        "`features: inception` needs `inception_weights`",
    );
    assert_rejected(
        &pipeline("features: pixels", ""),
        "unknown variant `pixels`, expected `domain` or `inception`",
    );
    assert_rejected(
        &pipeline(&format!("inception_weights: {WEIGHTS}"), ""),
        "`inception_weights` is only used with `features: inception`",
    );
    assert_rejected(
        &pipeline("features: domain", ""),
        "`features: domain` needs input `features`",
    );
    assert_rejected(
        &pipeline(
            &format!("features: inception, inception_weights: {WEIGHTS}"),
            ", features: real.images",
        ),
        "`features: inception` does not use input `features`",
    );
}

#[test]
fn a_missing_weights_file_is_named() {
    let project = TestProject::new(&pipeline(
        &format!("features: inception, inception_weights: {WEIGHTS}"),
        "",
    ));
    let output = project.augflow(&["run", "--backend", "cpu"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("fid_inception.safetensors"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
