//! TEMPORARY (deleted after use): converts the shared CR film for a look by eye.

use augflow_stages::data::{FolderConfig, load_folder};

#[test]
#[ignore]
fn convert_shared_cr_film() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("cr")).unwrap();
    std::os::unix::fs::symlink(
        "/work/shared/data/chest-cr-monochrome1.dcm",
        data.path().join("cr/film.dcm"),
    )
    .unwrap();
    let cfg: FolderConfig =
        serde_json::from_value(serde_json::json!({ "root": data.path(), "size": 512 })).unwrap();
    let out = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let summary = load_folder(&cfg, data.path(), out.path()).unwrap();
    eprintln!("converted in {:?}", started.elapsed());
    std::fs::copy(
        out.path().join(&summary.manifest.images[0].path),
        "/tmp/dicom_check.png",
    )
    .unwrap();
}
