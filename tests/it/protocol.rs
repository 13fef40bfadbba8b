//! The study's protocol in the pipeline format: `sample` params that do not apply to the
//! connected generator's family are errors at their own line, before anything runs.

use crate::common::{TestProject, assert_mentions, phantom_data, rejected, stdout};

/// Phantom data and a GAN and a DDPM trained on it; each test appends a `sample` stage
/// (its first line is line 13).
fn head() -> String {
    phantom_data("healthy: 4, viral: 4")
        + r#"  gan:
    kind: train.gan
    inputs: {train: data.images}
    params: {image_size: 32, steps: 2}
  ddpm:
    kind: train.ddpm
    inputs: {train: data.images}
    params: {image_size: 32, steps: 2}
"#
}

/// [`head`] and then `sample`: refused before anything runs ([`rejected`]), its stderr
/// mentioning every one of `needles`.
#[track_caller]
fn assert_rejected(sample: &str, needles: &[&str]) {
    assert_mentions(&rejected(&format!("{}{sample}", head())), needles);
}

/// [`head`] and then `sample`: a valid pipeline (`run --dry-run` succeeds).
fn assert_valid(sample: &str) {
    stdout(
        &TestProject::new(&format!("{}{sample}", head())),
        &["run", "--dry-run"],
    );
}

#[test]
fn sampler_params_on_a_gan_are_an_error_at_their_line() {
    // Line 18 is `steps: 20`, not the first param (`n`, line 17).
    assert_rejected(
        "  sample:\n    kind: sample\n    inputs: {generator: gan.generator}\n    params:\n      n: 4\n      steps: 20\n",
        &["augflow.yaml:18:", "`steps` does not apply to a GAN"],
    );
}

#[test]
fn latent_params_on_a_pixel_ddpm_are_an_error() {
    assert_rejected(
        "  sample:\n    kind: sample\n    inputs: {generator: ddpm.generator}\n    params:\n      n: 4\n      sampler: ddpm\n      guidance: 2.0\n",
        &[
            "augflow.yaml:19:",
            "`guidance` does not apply to a pixel DDPM",
        ],
    );
}

#[test]
fn a_matrix_over_families_takes_each_familys_own_section() {
    // `ddpm: {...}` applies to the DDPM node only; the same stage over the GAN is valid.
    assert_valid(
        "  sample:\n    matrix:\n      generator: [gan, ddpm]\n    kind: sample\n    inputs: {generator: \"${generator}.generator\"}\n    params:\n      n: 4\n      ddpm: {sampler: ddpm, steps: 250}\n",
    );
    // A latent-only param inside the DDPM section is refused without the generator.
    assert_rejected(
        "  sample:\n    kind: sample\n    inputs: {generator: ddpm.generator}\n    params:\n      n: 4\n      ddpm: {prompt: a lung}\n",
        &["in `ddpm`: `prompt` does not apply to a pixel DDPM"],
    );
}

#[test]
fn truncation_on_a_ddpm_is_an_error_and_the_gan_section_carries_it() {
    assert_rejected(
        "  sample:\n    kind: sample\n    inputs: {generator: ddpm.generator}\n    params:\n      n: 4\n      truncation: 0.7\n",
        &[
            "augflow.yaml:18:",
            "`truncation` does not apply to a pixel DDPM",
        ],
    );
    // Over both families, `gan: {truncation}` is read by the GAN node only.
    assert_valid(
        "  sample:\n    matrix:\n      generator: [gan, ddpm]\n    kind: sample\n    inputs: {generator: \"${generator}.generator\"}\n    params:\n      n: 4\n      gan: {truncation: 0.7}\n",
    );
}
