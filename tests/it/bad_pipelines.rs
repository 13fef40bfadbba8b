//! Bad pipelines: each gives a clear error naming file:line:column, exit code 2, no panic.

use crate::common::{TestProject, assert_mentions, failed, rejected};

/// `augflow run` refuses the text with the common contract ([`rejected`]) and its stderr
/// mentions every one of `needles`.
#[track_caller]
fn assert_rejected(pipeline: &str, needles: &[&str]) {
    assert_mentions(&rejected(pipeline), needles);
}

#[test]
fn syntax_error() {
    assert_rejected(
        "stages:\n  a: {cmd: echo\n  b: 1\n",
        &["augflow.yaml:3:4", "parse YAML"],
    );
}

#[test]
fn unknown_field() {
    assert_rejected(
        "stages:\n  a:\n    cmd: echo\n    outz: [x]\n",
        &["augflow.yaml:4:5", "outz"],
    );
}

#[test]
fn cycle_is_named() {
    assert_rejected(
        "stages:\n  a:\n    cmd: cp b.txt a.txt\n    deps: [b.txt]\n    outs: [a.txt]\n  b:\n    cmd: cp a.txt b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n",
        &["augflow.yaml:3:10", "cycle a → b → a"],
    );
}

#[test]
fn dangling_reference() {
    assert_rejected(
        "stages:\n  s:\n    kind: summary.image_set\n    inputs:\n      images: nope.images\n",
        &["augflow.yaml:5:15", "no stage or node is named `nope`"],
    );
}

#[test]
fn type_mismatch() {
    assert_rejected(
        "stages:\n  data:\n    kind: dataset.phantom\n  s1:\n    kind: summary.image_set\n    inputs: {images: data.images}\n  s2:\n    kind: summary.image_set\n    inputs: {images: s1.metrics}\n",
        &[
            "augflow.yaml:9:22",
            "takes image_set, but `s1.metrics` is metrics",
        ],
    );
}

#[test]
fn parent_directory_path() {
    assert_rejected(
        "stages:\n  a:\n    cmd: echo\n    outs: [../escape.txt]\n",
        &["augflow.yaml:4:12", "escapes it with `..`"],
    );
}

#[test]
fn absolute_path() {
    assert_rejected(
        "stages:\n  a:\n    cmd: echo\n    deps: [/etc/passwd]\n",
        &["augflow.yaml:4:12", "not the absolute path `/etc/passwd`"],
    );
}

#[test]
fn alias_bomb_is_stopped_by_the_budget() {
    let mut text = String::from("params:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let prev = level - 1;
        let refs = vec![format!("*l{prev}"); 10].join(", ");
        text.push_str(&format!("  l{level}: &l{level} [{refs}]\n"));
    }
    text.push_str("stages:\n  a:\n    cmd: echo\n");
    assert_rejected(&text, &["augflow.yaml:", "parse YAML"]);
}

#[test]
fn unknown_kind_and_bad_params_and_unknown_variable_are_reported_together() {
    assert_rejected(
        "stages:\n  a:\n    kind: dataset.phantomm\n  b:\n    kind: dataset.phantom\n    params: {sise: 32}\n  c:\n    cmd: echo ${nothing}\n",
        &[
            "augflow.yaml:3:11",
            "`dataset.phantomm` is not one",
            "known kinds: augment.merge, dataset.covid_chestxray, dataset.csv, dataset.folder",
            "augflow.yaml:6:20",
            "unknown field `sise`",
            "augflow.yaml:8:10",
            "resolve `${nothing}`",
            "3 error(s)",
        ],
    );
}

#[test]
fn duplicate_output_path() {
    assert_rejected(
        "stages:\n  a:\n    cmd: echo\n    outs: [x.txt]\n  b:\n    cmd: echo\n    outs: [x.txt]\n",
        &["augflow.yaml:7:12", "`a` writes it too"],
    );
}

#[test]
fn missing_pipeline_file_names_the_path() {
    let project = TestProject::new("stages: {}\n");
    let stderr = failed(&project, &["run", "nowhere.yaml"], 2);
    assert_mentions(&stderr, &["nowhere.yaml"]);
}

#[test]
fn gathering_into_a_single_input_or_from_a_missing_stage_is_an_error() {
    assert_rejected(
        "stages:\n  data:\n    matrix: {size: [32, 48]}\n    kind: dataset.phantom\n    params: {size: \"${size}\"}\n  summary:\n    kind: summary.image_set\n    inputs: {images: data@*.images}\n  report:\n    kind: report.study\n    inputs: {scores: nowhere@*.scores}\n",
        &[
            "augflow.yaml:8:22",
            "connect one artifact to input `images`: `summary.image_set` does not gather",
            "augflow.yaml:11:22",
            "no stage or node is named `nowhere@*`",
        ],
    );
}

#[test]
fn a_matrix_include_entry_that_selects_nothing_or_is_not_a_mapping() {
    assert_rejected(
        "stages:\n  a:\n    matrix:\n      x: [one, two]\n      include:\n        - {x: tow, y: 2}\n        - 3\n    cmd: \"echo ${x} ${y}\"\n",
        &[
            "augflow.yaml:6:11",
            "none has x: \"tow\"",
            "augflow.yaml:7:11",
            "give each matrix `include` entry as a mapping",
        ],
    );
}

#[test]
fn a_generator_features_model_without_a_holdout_is_an_error() {
    assert_rejected(
        "stages:\n  data:\n    kind: dataset.phantom\n  judge:\n    kind: train.classifier\n    inputs: {train: data.images, val: data.images}\n  gan:\n    kind: train.gan\n    inputs: {train: data.images, features: judge.model}\n",
        &[
            "augflow.yaml:8:11",
            "input `features` scores checkpoints, and `selection.holdout: 0` scores none",
        ],
    );
}
