//! `dataset.csv`, `dataset.kermany` and `dataset.covid_chestxray` end to end.

mod data_support;

use std::collections::BTreeMap;
use std::path::Path;

use augflow_stages::StageError;
use augflow_stages::data::{
    CovidChestXrayConfig, CsvConfig, KermanyConfig, load_covid_chestxray, load_csv, load_kermany,
};
use data_support::{assert_mentions, files, label_patient_split, rows, write_file, write_png};

fn s(x: &str) -> String {
    x.to_owned()
}

fn csv_config(csv: &Path, extra: serde_json::Value) -> CsvConfig {
    let mut value = serde_json::json!({ "csv": csv, "size": 8 });
    value
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(value).unwrap()
}

#[test]
fn csv_lists_paths_labels_patients_and_parts() {
    let data = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    write_png(&data.path().join("scans/a.png"), 10, 10);
    write_png(&data.path().join("scans/b.png"), 12, 10);
    write_png(&elsewhere.path().join("c.png"), 10, 14);
    let absolute = elsewhere.path().join("c.png");
    let csv = data.path().join("lists/images.csv");
    write_file(
        &csv,
        format!(
            "Path,label,Patient_ID,split,comment\n\
             ../scans/a.png,COVID,pat 1,train,\"has, a comma\"\n\
             ../scans/b.png,normal,pat-2,TEST,\n\
             {},covid,pat 1,train,\n",
            absolute.display()
        )
        .as_bytes(),
    );
    let cfg = csv_config(
        &csv,
        serde_json::json!({ "labels": { "covid": "covid19", "NORMAL": "healthy" } }),
    );
    let out = tempfile::tempdir().unwrap();
    let summary = load_csv(&cfg, &csv, out.path()).unwrap();
    assert_eq!(summary.manifest.classes, ["covid19", "healthy"]);
    assert_eq!(
        rows(&summary.manifest),
        [
            (
                s("images/covid19/pat_1-1.png"),
                s("covid19"),
                s("pat 1"),
                Some(s("train"))
            ),
            (
                s("images/healthy/pat-2-1.png"),
                s("healthy"),
                s("pat-2"),
                Some(s("test"))
            ),
            (
                s("images/covid19/pat_1-2.png"),
                s("covid19"),
                s("pat 1"),
                Some(s("train"))
            ),
        ]
    );
    assert_eq!(files(out.path()).len(), 4);
}

#[test]
fn csv_problems_name_the_file_and_line() {
    let data = tempfile::tempdir().unwrap();
    write_png(&data.path().join("a.png"), 8, 8);
    let csv = data.path().join("list.csv");
    let run = |text: &str| {
        write_file(&csv, text.as_bytes());
        let out = tempfile::tempdir().unwrap();
        load_csv(&csv_config(&csv, serde_json::json!({})), &csv, out.path())
            .unwrap_err()
            .to_string()
    };
    assert_mentions(
        &run("path,label\na.png,healthy\n"),
        &["list.csv", "`patient_id`"],
    );
    assert_mentions(
        &run("path,label,patient_id,split\na.png,healthy,p1,holdout\n"),
        &["line 2", "\"holdout\""],
    );
    let message = run("path,label,patient_id\nmissing.png,healthy,p1\n");
    assert!(message.contains("missing.png"), "{message}");

    // A missing file is a bad file: skip_bad skips it.
    write_file(
        &csv,
        b"path,label,patient_id\nmissing.png,healthy,p1\na.png,healthy,p2\n",
    );
    let out = tempfile::tempdir().unwrap();
    let cfg = csv_config(&csv, serde_json::json!({ "skip_bad": true }));
    let summary = load_csv(&cfg, &csv, out.path()).unwrap();
    assert_eq!(summary.manifest.images.len(), 1);
    assert!(summary.skipped[0].0.ends_with("missing.png"));
}

/// The Kaggle download: `chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}`.
#[test]
fn kermany_classes_and_patients_come_from_file_names() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("chest_xray");
    let jpeg = |rel: &str| {
        data_support::write_image(&root.join(rel), &data_support::gradient(20, 16, 30));
    };
    jpeg("train/NORMAL/IM-0115-0001.jpeg");
    jpeg("train/NORMAL/NORMAL2-IM-1427-0001.jpeg");
    jpeg("train/PNEUMONIA/person1_bacteria_1.jpeg");
    jpeg("train/PNEUMONIA/person1_bacteria_2.jpeg");
    jpeg("train/PNEUMONIA/person12_virus_33.jpeg");
    jpeg("train/PNEUMONIA/person13_unknown_1.jpeg");
    jpeg("test/PNEUMONIA/person100_virus_184.jpeg");
    jpeg("val/NORMAL/NORMAL2-IM-1430-0001.jpeg");
    write_file(&root.join("train/NORMAL/.DS_Store"), b"junk");

    let cfg: KermanyConfig = serde_json::from_value(serde_json::json!({
        "root": data.path(),
        "size": 16,
    }))
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    // The folder above chest_xray is accepted too.
    let summary = load_kermany(&cfg, data.path(), out.path()).unwrap();
    assert_eq!(summary.manifest.classes, ["bacterial", "healthy", "viral"]);
    assert_eq!(
        label_patient_split(&summary.manifest),
        [
            ("viral", "person100", Some("test")),
            ("healthy", "IM-0115", Some("train")),
            ("healthy", "IM-1427", Some("train")),
            // Byte order: "person12_" sorts before "person1_".
            ("viral", "person12", Some("train")),
            ("bacterial", "person1", Some("train")),
            ("bacterial", "person1", Some("train")),
            ("healthy", "IM-1430", Some("val")),
        ]
    );
    assert_eq!(
        summary.dropped,
        BTreeMap::from([
            (s("not an image file"), 1),
            (s("pneumonia file name names neither bacteria nor virus"), 1),
        ])
    );
}

#[test]
fn kermany_without_its_layout_says_so() {
    let data = tempfile::tempdir().unwrap();
    write_png(&data.path().join("NORMAL/a.png"), 8, 8);
    let cfg: KermanyConfig = serde_json::from_value(serde_json::json!({ "root": "x" })).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = load_kermany(&cfg, data.path(), out.path()).unwrap_err();
    assert!(matches!(err, StageError::InvalidData { .. }), "{err:?}");
    assert!(err.to_string().contains("train/val/test"), "{err}");
}

#[test]
fn covid_chestxray_keeps_frontal_xrays_and_maps_findings() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path();
    for name in [
        "c1.png", "v1.jpg", "b1.png", "f1.png", "h1.png", "lat.png", "tb.png",
    ] {
        write_png(&root.join("images").join(name), 18, 16);
    }
    let metadata = "\
patientid,offset,sex,age,finding,RT_PCR_positive,survival,view,modality,date,location,folder,filename,doi,url,license,clinical_notes
2,0,M,65,Pneumonia/Viral/COVID-19,Y,,PA,X-ray,2020,Wuhan,images,c1.png,,,,\"notes, with comma\"
2,3,M,65,Pneumonia/Viral/COVID-19,Y,,L,X-ray,2020,Wuhan,images,lat.png,,,,
5,,F,40,Pneumonia/Viral/SARS,,,AP,X-ray,,,images,v1.jpg,,,,
7,,F,50,Pneumonia/Bacterial/Streptococcus,,,AP Supine,X-ray,,,images,b1.png,,,,
8,,M,30,Pneumonia/Fungal/Pneumocystis,,,AP semi erect,X-ray,,,images,f1.png,,,,
9,,M,30,No Finding,,,PA,X-ray,,,images,h1.png,,,,
10,,M,30,Tuberculosis,,,PA,X-ray,,,images,tb.png,,,,
11,,M,30,Pneumonia/Viral/COVID-19,,,Axial,CT,,,volumes,ct.nii.gz,,,,
";
    write_file(&root.join("metadata.csv"), metadata.as_bytes());
    let cfg: CovidChestXrayConfig = serde_json::from_value(serde_json::json!({
        "root": root,
        "size": 16,
        "labels": { "fungal": "fungal_pneumonia" },
    }))
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = load_covid_chestxray(&cfg, root, out.path()).unwrap();
    assert_eq!(
        summary.manifest.classes,
        [
            "bacterial",
            "covid19",
            "fungal_pneumonia",
            "healthy",
            "viral"
        ]
    );
    assert_eq!(
        rows(&summary.manifest),
        [
            (s("images/covid19/2-1.png"), s("covid19"), s("2"), None),
            (s("images/viral/5-1.png"), s("viral"), s("5"), None),
            (s("images/bacterial/7-1.png"), s("bacterial"), s("7"), None),
            (
                s("images/fungal_pneumonia/8-1.png"),
                s("fungal_pneumonia"),
                s("8"),
                None
            ),
            (s("images/healthy/9-1.png"), s("healthy"), s("9"), None),
        ]
    );
    assert_eq!(
        summary.dropped,
        BTreeMap::from([
            (s("finding \"Tuberculosis\""), 1),
            (s("modality \"CT\""), 1),
            (s("view \"L\""), 1),
        ])
    );
}
