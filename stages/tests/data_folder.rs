//! `dataset.folder` end to end: layouts, patients, labels, sizes, bad files.

mod data_support;

use std::collections::BTreeMap;
use std::path::Path;

use augflow_stages::StageError;
use augflow_stages::data::{FolderConfig, IngestSummary, load_folder};
use augflow_stages::image_set::ImageSetManifest;
use data_support::{
    assert_mentions, files, label_patient_split, read_gray, rows, write_file, write_png,
};

fn config(root: &Path) -> FolderConfig {
    serde_json::from_value(serde_json::json!({ "root": root })).unwrap()
}

fn load(cfg: &FolderConfig, root: &Path) -> (tempfile::TempDir, Result<IngestSummary, StageError>) {
    let out = tempfile::tempdir().unwrap();
    let result = load_folder(cfg, root, out.path());
    (out, result)
}

/// Why a folder of these PNGs (path, width, height) does not load with the defaults.
fn load_error(pngs: &[(&str, u32, u32)]) -> StageError {
    let data = tempfile::tempdir().unwrap();
    for &(path, width, height) in pngs {
        write_png(&data.path().join(path), width, height);
    }
    let (_out, result) = load(&config(data.path()), data.path());
    result.expect_err("the folder should not load")
}

/// A [`class_layout`] folder and its config, images resized to `size`².
fn class_layout_at_size(size: u32) -> (tempfile::TempDir, FolderConfig) {
    let data = tempfile::tempdir().unwrap();
    class_layout(data.path());
    let mut cfg = config(data.path());
    cfg.size = Some(size);
    (data, cfg)
}

/// root/<class>/… with nested folders, a JPEG, non-square images and stray files.
fn class_layout(root: &Path) {
    write_png(&root.join("healthy/p1_a.png"), 30, 20);
    write_png(&root.join("healthy/p1_b.png"), 20, 30);
    write_png(&root.join("healthy/more/deeper/p2_a.PNG"), 24, 24);
    data_support::write_image(
        &root.join("viral/p3_x.jpg"),
        &data_support::gradient(40, 30, 10),
    );
    write_file(&root.join("viral/notes.txt"), b"not an image");
    write_file(&root.join("viral/.DS_Store"), b"junk");
    write_file(&root.join("README.md"), b"top-level file");
    write_png(&root.join(".cache/p9_a.png"), 8, 8);
}

#[test]
fn class_folders_give_classes_patients_and_square_images() {
    let (data, mut cfg) = class_layout_at_size(16);
    cfg.patient_pattern = Some(r"^(p\d+)_".into());
    let (out, summary) = load(&cfg, data.path());
    let summary = summary.unwrap();
    let manifest = &summary.manifest;
    assert_eq!(manifest.classes, ["healthy", "viral"]);
    assert_eq!((manifest.width, manifest.height), (16, 16));
    let s = |x: &str| x.to_owned();
    assert_eq!(
        rows(manifest),
        vec![
            (s("images/healthy/p1-1.png"), s("healthy"), s("p1"), None),
            (s("images/healthy/p1-2.png"), s("healthy"), s("p1"), None),
            (s("images/healthy/p2-1.png"), s("healthy"), s("p2"), None),
            (s("images/viral/p3-1.png"), s("viral"), s("p3"), None),
        ]
    );
    for record in &manifest.images {
        assert_eq!(
            read_gray(&out.path().join(&record.path)).dimensions(),
            (16, 16)
        );
    }
    assert_eq!(ImageSetManifest::read(out.path()).unwrap(), *manifest);
    assert_eq!(
        summary.dropped,
        BTreeMap::from([
            ("file outside a class folder".to_owned(), 1),
            ("not an image file".to_owned(), 2),
        ])
    );
    assert!(summary.skipped.is_empty());
    // Manifest + 4 images, nothing else.
    assert_eq!(files(out.path()).len(), 5);
}

#[test]
fn same_input_gives_identical_bytes() {
    let (data, cfg) = class_layout_at_size(12);
    let (first, a) = load(&cfg, data.path());
    let (second, b) = load(&cfg, data.path());
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(files(first.path()), files(second.path()));
}

#[test]
fn default_patient_is_the_whole_stem() {
    let (data, cfg) = class_layout_at_size(8);
    let (_out, summary) = load(&cfg, data.path());
    let patients: Vec<String> = summary
        .unwrap()
        .manifest
        .images
        .into_iter()
        .map(|r| r.patient_id)
        .collect();
    assert_eq!(patients, ["p1_a", "p1_b", "p2_a", "p3_x"]);
}

#[test]
fn split_folders_set_the_part_and_aliases_rename_classes() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path();
    write_png(&root.join("train/NORMAL/a.png"), 12, 12);
    write_png(&root.join("Train/PNEUMONIA_bacteria/b.png"), 12, 12);
    write_png(&root.join("val/normal/c.png"), 12, 12);
    write_png(&root.join("test/Pneumonia_Bacteria/d.png"), 12, 12);
    let cfg: FolderConfig = serde_json::from_value(serde_json::json!({
        "root": root,
        "labels": { "normal": "healthy", "PNEUMONIA_bacteria": "bacterial" },
    }))
    .unwrap();
    let (_out, summary) = load(&cfg, root);
    let manifest = summary.unwrap().manifest;
    assert_eq!(manifest.classes, ["bacterial", "healthy"]);
    assert_eq!(
        (manifest.width, manifest.height),
        (12, 12),
        "original size kept"
    );
    assert_eq!(
        label_patient_split(&manifest),
        [
            ("bacterial", "b", Some("train")),
            ("bacterial", "d", Some("test")),
            ("healthy", "a", Some("train")),
            ("healthy", "c", Some("val")),
        ],
        "sorted traversal: Train < test < train < val"
    );
}

#[test]
fn mixing_split_and_class_folders_is_an_error() {
    let err = load_error(&[("train/healthy/a.png", 8, 8), ("viral/b.png", 8, 8)]);
    assert_mentions(&err.to_string(), &["viral", "mixes"]);
}

#[test]
fn different_sizes_without_size_name_both() {
    let err = load_error(&[("healthy/a.png", 10, 12), ("healthy/b.png", 14, 12)]);
    assert!(matches!(err, StageError::MixedImageSizes { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &["14x12", "10x12", "b.png", "a.png"]);
}

#[test]
fn a_bad_file_fails_naming_it_unless_skipped() {
    let data = tempfile::tempdir().unwrap();
    write_png(&data.path().join("healthy/good.png"), 8, 8);
    let bad = data.path().join("healthy/broken.png");
    write_file(&bad, b"\x89PNG\r\n\x1a\n truncated");
    write_file(
        &data.path().join("viral/fake.jpg"),
        b"plain text, not a jpeg",
    );

    let (_out, result) = load(&config(data.path()), data.path());
    let err = result.unwrap_err();
    assert!(matches!(err, StageError::DecodeImage { .. }), "{err:?}");
    assert!(err.to_string().contains("broken.png"), "{err}");

    let mut cfg = config(data.path());
    cfg.skip_bad = true;
    let (_out, summary) = load(&cfg, data.path());
    let summary = summary.unwrap();
    let skipped: Vec<&str> = summary
        .skipped
        .iter()
        .map(|(path, _)| path.as_str())
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].ends_with("broken.png") && skipped[1].ends_with("fake.jpg"));
    assert!(
        summary.skipped[1].1.contains("not a PNG, JPEG or DICOM"),
        "{:?}",
        summary.skipped
    );
    assert_eq!(summary.manifest.images.len(), 1);
    assert_eq!(summary.manifest.classes, ["healthy"]);
}

#[test]
fn classes_keep_only_the_listed_ones_in_their_order() {
    let data = tempfile::tempdir().unwrap();
    class_layout(data.path());
    write_png(&data.path().join("Fungal/f1.png"), 16, 16);
    let cfg: FolderConfig = serde_json::from_value(serde_json::json!({
        "root": data.path(),
        "size": 8,
        "classes": ["viral", "fungal"],
    }))
    .unwrap();
    let (out, summary) = load(&cfg, data.path());
    let summary = summary.unwrap();
    assert_eq!(summary.manifest.classes, ["viral", "fungal"]);
    let labels: Vec<&str> = summary
        .manifest
        .images
        .iter()
        .map(|r| r.label.as_str())
        .collect();
    assert_eq!(
        labels,
        ["fungal", "viral"],
        "Fungal is spelled as in `classes`"
    );
    assert!(out.path().join("images/fungal/f1-1.png").is_file());
    assert_eq!(summary.dropped["class \"healthy\" is not in `classes`"], 3);
}

#[test]
fn an_unmatched_patient_pattern_names_the_file() {
    let data = tempfile::tempdir().unwrap();
    write_png(&data.path().join("healthy/p1_a.png"), 8, 8);
    write_png(&data.path().join("healthy/odd.png"), 8, 8);
    let mut cfg = config(data.path());
    cfg.patient_pattern = Some(r"^(p\d+)_".into());
    let (_out, result) = load(&cfg, data.path());
    assert_mentions(
        &result.unwrap_err().to_string(),
        &["odd.png", "patient_pattern"],
    );

    cfg.patient_pattern = Some("no group".into());
    assert!(
        cfg.validate()
            .unwrap_err()
            .to_string()
            .contains("capture group")
    );
}

#[test]
fn configs_reject_unknown_fields_and_need_an_empty_output() {
    let err = serde_json::from_value::<FolderConfig>(serde_json::json!({"root": "x", "sise": 3}));
    assert!(err.is_err());
    let data = tempfile::tempdir().unwrap();
    write_png(&data.path().join("healthy/a.png"), 8, 8);
    let out = tempfile::tempdir().unwrap();
    write_file(&out.path().join("leftover"), b"");
    let err = load_folder(&config(data.path()), data.path(), out.path()).unwrap_err();
    assert!(matches!(err, StageError::OutputNotEmpty { .. }), "{err:?}");
}
