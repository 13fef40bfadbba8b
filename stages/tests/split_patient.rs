//! The patient split end to end: on-disk image sets in, three image sets out.

mod data_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use augflow_stages::StageError;
use augflow_stages::image_set::{IMAGE_SET_FORMAT, ImageRecord, ImageSetManifest};
use augflow_stages::split::{KFold, SplitConfig, SplitReport, split_patient};
use data_support::{files, write_png};

const CLASSES: [(&str, usize); 3] = [("healthy", 23), ("viral", 11), ("covid19", 7)];

/// An image set of `CLASSES` patients with 1–3 images each, plus patient "mix" with two
/// viral images and one healthy one. `split` gives a record its part, if any.
fn image_set(dir: &Path, split: impl Fn(&str, usize) -> Option<String>) -> ImageSetManifest {
    let mut images = Vec::new();
    let mut add = |class: &str, patient: &str, n: usize| {
        let path = format!("images/{class}/{patient}-{n}.png");
        write_png(&dir.join(&path), 4, 4);
        images.push(ImageRecord {
            path,
            label: class.to_owned(),
            patient_id: patient.to_owned(),
            source: None,
            split: split(patient, n),
        });
    };
    for (class, patients) in CLASSES {
        for p in 0..patients {
            let patient = format!("{class}-{p:02}");
            for n in 1..=(p % 3 + 1) {
                add(class, &patient, n);
            }
        }
    }
    add("viral", "mix", 1);
    add("viral", "mix", 2);
    add("healthy", "mix", 3);
    let manifest = ImageSetManifest {
        format: IMAGE_SET_FORMAT,
        classes: CLASSES.iter().map(|(c, _)| c.to_string()).collect(),
        width: 4,
        height: 4,
        images,
    };
    manifest.write(dir).unwrap();
    manifest
}

struct Parts {
    _dirs: [tempfile::TempDir; 3],
    manifests: BTreeMap<&'static str, ImageSetManifest>,
    files: BTreeMap<&'static str, usize>,
}

fn run(input: &Path, cfg: &SplitConfig, seed: u64) -> Result<(SplitReport, Parts), StageError> {
    let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
    let report = split_patient(
        input,
        cfg,
        seed,
        dirs[0].path(),
        dirs[1].path(),
        dirs[2].path(),
    )?;
    let mut manifests = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for (name, dir) in ["train", "val", "test"].into_iter().zip(&dirs) {
        manifests.insert(name, ImageSetManifest::read(dir.path()).unwrap());
        counts.insert(name, files(dir.path()).len() - 1);
    }
    Ok((
        report,
        Parts {
            _dirs: dirs,
            manifests,
            files: counts,
        },
    ))
}

/// Patient → the parts its images are in.
fn parts_of_patients(parts: &Parts) -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut out: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for (&name, manifest) in &parts.manifests {
        for image in &manifest.images {
            out.entry(image.patient_id.clone())
                .or_default()
                .insert(name);
        }
    }
    out
}

fn fixture() -> (tempfile::TempDir, ImageSetManifest) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = image_set(dir.path(), |_, _| None);
    (dir, manifest)
}

#[test]
fn no_patient_is_in_two_parts_and_every_image_is_kept_once() {
    let (input, manifest) = fixture();
    let (report, parts) = run(input.path(), &SplitConfig::default(), 42).unwrap();
    let by_patient = parts_of_patients(&parts);
    assert_eq!(by_patient.len(), 23 + 11 + 7 + 1);
    for (patient, in_parts) in &by_patient {
        assert_eq!(in_parts.len(), 1, "{patient} is in {in_parts:?}");
    }
    let mut written: Vec<&ImageRecord> = parts.manifests.values().flat_map(|m| &m.images).collect();
    written.sort_by(|a, b| a.path.cmp(&b.path));
    let mut original: Vec<&ImageRecord> = manifest.images.iter().collect();
    original.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(
        written, original,
        "same records, split cleared (it was None)"
    );
    for (name, m) in &parts.manifests {
        assert_eq!(m.classes, manifest.classes);
        assert_eq!(
            parts.files[name],
            m.images.len(),
            "{name}: one file per record"
        );
        assert_eq!(report.counts[*name], m.counts_per_class());
    }
    assert_eq!(report.mixed_class_patients, ["mix"]);
    assert!(!report.used_existing);
    assert_eq!(report.patients.values().sum::<usize>(), by_patient.len());
}

#[test]
fn each_class_follows_the_fractions_within_one_patient() {
    let (input, _) = fixture();
    for (train, val, test) in [(0.7, 0.1, 0.2), (0.6, 0.2, 0.2), (0.5, 0.0, 0.5)] {
        let cfg = SplitConfig {
            train,
            val,
            test,
            ..SplitConfig::default()
        };
        let (_, parts) = run(input.path(), &cfg, 3).unwrap();
        let by_patient = parts_of_patients(&parts);
        // Majority class per patient: "mix" counts as viral.
        let class_of = |p: &str| {
            if p == "mix" {
                "viral".to_owned()
            } else {
                p.rsplit_once('-').unwrap().0.to_owned()
            }
        };
        for (class, n) in CLASSES {
            let n = if class == "viral" { n + 1 } else { n };
            for (part, fraction) in [("train", train), ("val", val), ("test", test)] {
                let got = by_patient
                    .iter()
                    .filter(|(p, parts)| class_of(p) == class && parts.contains(part))
                    .count();
                let want = fraction * n as f64;
                assert!(
                    (got as f64 - want).abs() < 1.0,
                    "{class} {part}: {got} patients, want {want}"
                );
            }
        }
    }
}

#[test]
fn the_split_is_deterministic_per_seed_and_differs_across_seeds() {
    let (input, _) = fixture();
    let cfg = SplitConfig::default();
    let (report_a, a) = run(input.path(), &cfg, 7).unwrap();
    let (report_b, b) = run(input.path(), &cfg, 7).unwrap();
    assert_eq!(report_a, report_b);
    assert_eq!(a.manifests, b.manifests);
    let (_, c) = run(input.path(), &cfg, 8).unwrap();
    assert_ne!(parts_of_patients(&a), parts_of_patients(&c));
}

#[test]
fn kfold_test_folds_partition_the_patients() {
    let (input, _) = fixture();
    let k = 4;
    let mut test_fold_of: BTreeMap<String, u32> = BTreeMap::new();
    for fold in 0..k {
        let cfg = SplitConfig {
            kfold: Some(KFold { k, fold }),
            ..SplitConfig::default()
        };
        let (report, parts) = run(input.path(), &cfg, 11).unwrap();
        let by_patient = parts_of_patients(&parts);
        assert_eq!(by_patient.len(), 42);
        for (patient, in_parts) in by_patient {
            assert_eq!(in_parts.len(), 1, "{patient}");
            if in_parts.contains("test") {
                assert!(
                    test_fold_of.insert(patient.clone(), fold).is_none(),
                    "{patient} in two test folds"
                );
            }
        }
        let test = report.patients["test"];
        assert!(
            (10..=11).contains(&test),
            "fold {fold}: {test} test patients of 42"
        );
        assert!(report.patients["val"] >= 1);
    }
    assert_eq!(
        test_fold_of.len(),
        42,
        "every patient is tested exactly once"
    );
}

#[test]
fn the_datas_own_split_is_kept_and_leaks_go_to_test() {
    let dir = tempfile::tempdir().unwrap();
    // Patients ending in 0 are test, in 1 val, others train; "mix" has one image in test.
    let part = |patient: &str, n: usize| {
        Some(
            if patient == "mix" {
                if n == 3 { "test" } else { "train" }
            } else if patient.ends_with('0') {
                "test"
            } else if patient.ends_with('1') {
                "val"
            } else {
                "train"
            }
            .to_owned(),
        )
    };
    image_set(dir.path(), part);
    let (report, parts) = run(dir.path(), &SplitConfig::default(), 1).unwrap();
    assert!(report.used_existing);
    assert_eq!(report.moved_patients, ["mix"]);
    let by_patient = parts_of_patients(&parts);
    assert_eq!(by_patient["mix"], BTreeSet::from(["test"]));
    assert_eq!(by_patient["viral-10"], BTreeSet::from(["test"]));
    assert_eq!(by_patient["viral-01"], BTreeSet::from(["val"]));
    assert_eq!(by_patient["covid19-05"], BTreeSet::from(["train"]));
    assert!(
        parts
            .manifests
            .values()
            .flat_map(|m| &m.images)
            .all(|r| r.split.is_none())
    );

    let cfg = SplitConfig {
        kfold: Some(KFold { k: 3, fold: 0 }),
        ..SplitConfig::default()
    };
    let err = run(dir.path(), &cfg, 1).err().unwrap();
    assert!(err.to_string().contains("respect_existing"), "{err}");

    let cfg = SplitConfig {
        respect_existing: false,
        ..SplitConfig::default()
    };
    let (report, _) = run(dir.path(), &cfg, 1).unwrap();
    assert!(!report.used_existing);
}

#[test]
fn bad_fractions_and_used_outputs_are_refused() {
    let (input, _) = fixture();
    let cfg = SplitConfig {
        train: 0.5,
        ..SplitConfig::default()
    };
    let err = run(input.path(), &cfg, 1).err().unwrap();
    assert!(matches!(err, StageError::InvalidConfig(_)), "{err:?}");
    assert!(err.to_string().contains("train 0.5"), "{err}");

    let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
    data_support::write_file(&dirs[2].path().join("old.png"), b"");
    let err = split_patient(
        input.path(),
        &SplitConfig::default(),
        1,
        dirs[0].path(),
        dirs[1].path(),
        dirs[2].path(),
    )
    .unwrap_err();
    assert!(matches!(err, StageError::OutputNotEmpty { .. }), "{err:?}");
}
