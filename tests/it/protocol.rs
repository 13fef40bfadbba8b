//! The study's protocol in the pipeline format: `sample` params that do not apply to the
//! connected generator's family are errors at their own line, before anything runs.

use crate::common::{TestProject, assert_mentions};

const HEAD: &str = "\
stages:
  data:
    kind: dataset.phantom
    params: {size: 32, classes: {healthy: 4, viral: 4}}
  gan:
    kind: train.gan
    inputs: {train: data.images}
    params: {image_size: 32, steps: 2}
  ddpm:
    kind: train.ddpm
    inputs: {train: data.images}
    params: {image_size: 32, steps: 2}
";

#[track_caller]
fn rejected(sample: &str) -> String {
    let project = TestProject::new(&format!("{HEAD}{sample}"));
    let output = project.augflow(&["run"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!project.path(".augflow/store").exists(), "{stderr}");
    stderr
}

#[test]
fn sampler_params_on_a_gan_are_an_error_at_their_line() {
    let stderr = rejected(
        "  sample:\n    kind: sample\n    inputs: {generator: gan.generator}\n    params:\n      n: 4\n      steps: 20\n",
    );
    // Line 18 is `steps: 20`, not the first param (`n`, line 17).
    assert_mentions(
        &stderr,
        &["augflow.yaml:18:", "`steps` does not apply to a GAN"],
    );
}

#[test]
fn latent_params_on_a_pixel_ddpm_are_an_error() {
    let stderr = rejected(
        "  sample:\n    kind: sample\n    inputs: {generator: ddpm.generator}\n    params:\n      n: 4\n      sampler: ddpm\n      guidance: 2.0\n",
    );
    assert_mentions(
        &stderr,
        &[
            "augflow.yaml:19:",
            "`guidance` does not apply to a pixel DDPM",
        ],
    );
}

#[test]
fn a_matrix_over_families_takes_each_familys_own_section() {
    // `ddpm: {...}` applies to the DDPM node only; the same stage over the GAN is valid.
    let project = TestProject::new(&format!(
        "{HEAD}  sample:\n    matrix:\n      generator: [gan, ddpm]\n    kind: sample\n    inputs: {{generator: \"${{generator}}.generator\"}}\n    params:\n      n: 4\n      ddpm: {{sampler: ddpm, steps: 250}}\n"
    ));
    let output = project.augflow(&["run", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // A latent-only param inside the DDPM section is refused without the generator.
    let stderr = rejected(
        "  sample:\n    kind: sample\n    inputs: {generator: ddpm.generator}\n    params:\n      n: 4\n      ddpm: {prompt: a lung}\n",
    );
    assert_mentions(
        &stderr,
        &["in `ddpm`: `prompt` does not apply to a pixel DDPM"],
    );
}

#[test]
fn truncation_on_a_ddpm_is_an_error_and_the_gan_section_carries_it() {
    let stderr = rejected(
        "  sample:\n    kind: sample\n    inputs: {generator: ddpm.generator}\n    params:\n      n: 4\n      truncation: 0.7\n",
    );
    assert_mentions(
        &stderr,
        &[
            "augflow.yaml:18:",
            "`truncation` does not apply to a pixel DDPM",
        ],
    );
    // Over both families, `gan: {truncation}` is read by the GAN node only.
    let project = TestProject::new(&format!(
        "{HEAD}  sample:\n    matrix:\n      generator: [gan, ddpm]\n    kind: sample\n    inputs: {{generator: \"${{generator}}.generator\"}}\n    params:\n      n: 4\n      gan: {{truncation: 0.7}}\n"
    ));
    let output = project.augflow(&["run", "--dry-run"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
