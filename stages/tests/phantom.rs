//! End-to-end tests of the phantom generator through its public API and on-disk output.

mod data_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use augflow_stages::StageError;
use augflow_stages::image_set::ImageSetManifest;
use augflow_stages::phantom::{PhantomConfig, generate_phantom};
use data_support::files;

fn config(size: u32, classes: &[(&str, u32)], images_per_patient: u32) -> PhantomConfig {
    PhantomConfig {
        size,
        classes: classes.iter().map(|&(c, n)| (c.to_owned(), n)).collect(),
        images_per_patient,
    }
}

fn small() -> PhantomConfig {
    config(
        48,
        &[
            ("healthy", 3),
            ("bacterial", 3),
            ("viral", 2),
            ("covid19", 2),
            ("fungal", 2),
        ],
        2,
    )
}

fn generate(cfg: &PhantomConfig, seed: u64) -> (tempfile::TempDir, ImageSetManifest) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = generate_phantom(cfg, seed, dir.path()).unwrap();
    (dir, manifest)
}

/// Decodes an 8-bit grayscale PNG, checking its format, and returns its pixels.
fn decode_gray(path: &Path, size: u32) -> Vec<u8> {
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height), (size, size), "{path:?}");
    assert_eq!(info.color_type, png::ColorType::Grayscale, "{path:?}");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{path:?}");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(frame.buffer_size());
    pixels
}

#[test]
fn same_config_and_seed_give_identical_bytes() {
    let cfg = small();
    let (a, _) = generate(&cfg, 7);
    let (b, _) = generate(&cfg, 7);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.len(), 12 + 1);
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (path, bytes) in &fa {
        assert!(bytes == &fb[path], "{path:?} differs between runs");
    }
}

#[test]
fn a_different_seed_gives_different_images() {
    let cfg = small();
    let (a, manifest) = generate(&cfg, 7);
    let (b, _) = generate(&cfg, 8);
    for record in &manifest.images {
        let (pa, pb) = (a.path().join(&record.path), b.path().join(&record.path));
        assert_ne!(
            fs::read(pa).unwrap(),
            fs::read(pb).unwrap(),
            "{}",
            record.path
        );
    }
}

#[test]
fn an_image_does_not_depend_on_the_other_classes() {
    let (a, _) = generate(&config(48, &[("viral", 3)], 2), 5);
    let (b, _) = generate(&small(), 5);
    let path = "images/viral/phantom-viral-0001-2.png";
    assert_eq!(
        fs::read(a.path().join(path)).unwrap(),
        fs::read(b.path().join(path)).unwrap()
    );
}

#[test]
fn manifest_and_files_match_the_config() {
    let cfg = config(40, &[("bacterial", 5), ("healthy", 4)], 2);
    let (dir, manifest) = generate(&cfg, 1);
    assert_eq!(ImageSetManifest::read(dir.path()).unwrap(), manifest);
    assert_eq!(manifest.classes, ["bacterial", "healthy"]);
    assert_eq!((manifest.width, manifest.height), (40, 40));
    let expected: BTreeMap<String, usize> = [("bacterial".into(), 5), ("healthy".into(), 4)].into();
    assert_eq!(manifest.counts_per_class(), expected);

    // The files on disk are exactly the manifest's images, grouped by class directory.
    let on_disk: BTreeSet<String> = files(dir.path())
        .into_keys()
        .map(|p| p.to_str().unwrap().replace('\\', "/"))
        .filter(|p| p != "images.json")
        .collect();
    let listed: BTreeSet<String> = manifest.images.iter().map(|r| r.path.clone()).collect();
    assert_eq!(on_disk, listed);
    for record in &manifest.images {
        assert!(
            record
                .path
                .starts_with(&format!("images/{}/", record.label))
        );
        assert_eq!(record.source, None);
        decode_gray(&dir.path().join(&record.path), 40);
    }

    // 5 bacterial images at 2 per patient: 3 patients, the last with 1 image.
    let bacterial: Vec<&str> = manifest
        .images
        .iter()
        .filter(|r| r.label == "bacterial")
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        bacterial,
        [
            "images/bacterial/phantom-bacterial-0001-1.png",
            "images/bacterial/phantom-bacterial-0001-2.png",
            "images/bacterial/phantom-bacterial-0002-1.png",
            "images/bacterial/phantom-bacterial-0002-2.png",
            "images/bacterial/phantom-bacterial-0003-1.png",
        ]
    );
}

#[test]
fn patients_never_span_two_classes() {
    let (_dir, manifest) = generate(&small(), 3);
    let mut labels: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut images: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &manifest.images {
        labels
            .entry(&record.patient_id)
            .or_default()
            .insert(&record.label);
        *images.entry(&record.patient_id).or_default() += 1;
    }
    assert!(labels.values().all(|l| l.len() == 1), "{labels:?}");
    assert!(images.values().all(|&n| (1..=2).contains(&n)), "{images:?}");
    assert_eq!(labels.len(), 2 + 2 + 1 + 1 + 1);
}

#[test]
fn a_patients_images_differ() {
    let (dir, _) = generate(&config(48, &[("covid19", 2)], 2), 11);
    let image = |n| {
        fs::read(
            dir.path()
                .join(format!("images/covid19/phantom-covid19-0001-{n}.png")),
        )
    };
    assert_ne!(image(1).unwrap(), image(2).unwrap());
}

#[test]
fn invalid_config_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for cfg in [
        config(16, &[("healthy", 1)], 1),
        config(300, &[("healthy", 1)], 1),
        config(64, &[("flu", 1)], 1),
        config(64, &[("healthy", 1)], 0),
    ] {
        let err = generate_phantom(&cfg, 0, dir.path()).unwrap_err();
        assert!(matches!(err, StageError::InvalidConfig(_)), "{err}");
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_non_empty_output_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("stale.png"), b"x").unwrap();
    let err = generate_phantom(&small(), 0, dir.path()).unwrap_err();
    assert!(matches!(err, StageError::OutputNotEmpty { .. }), "{err}");

    let missing = dir.path().join("missing");
    let err = generate_phantom(&small(), 0, &missing).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

/// Consolidation fills lung air with fluid, so the lung fields of bacterial cases must be
/// brighter on average than those of healthy ones.
#[test]
fn findings_are_visible() {
    let size = 64;
    let cfg = config(size, &[("bacterial", 20), ("healthy", 20)], 1);
    let (dir, manifest) = generate(&cfg, 2024);
    let mut means: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for record in &manifest.images {
        let pixels = decode_gray(&dir.path().join(&record.path), size);
        let s = size as usize;
        // Both lung fields: a generous box that spares the mediastinum.
        let (rows, cols) = (s * 25 / 100..s * 75 / 100, s * 12 / 100..s * 88 / 100);
        let lateral = |x: usize| x < s * 40 / 100 || x >= s * 60 / 100;
        let values: Vec<f64> = rows
            .flat_map(|y| cols.clone().filter(|&x| lateral(x)).map(move |x| (y, x)))
            .map(|(y, x)| f64::from(pixels[y * s + x]))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        means.entry(&record.label).or_default().push(mean);
    }
    let average = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let (bacterial, healthy) = (average(&means["bacterial"]), average(&means["healthy"]));
    assert!(
        bacterial > healthy,
        "bacterial {bacterial:.1} vs healthy {healthy:.1}"
    );
}
