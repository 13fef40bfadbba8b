//! DICOM decoding through `dataset.folder`: stored bits, rescale, window, MONOCHROME1.

mod data_support;

use std::path::Path;

use augflow_stages::data::{FolderConfig, load_folder};
use data_support::read_gray;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const CR_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.1";

struct Film<'a> {
    photometric: &'a str,
    /// Window Center / Width as DS strings (several values: the first counts).
    window: Option<(&'a str, &'a str)>,
    rescale: Option<(&'a str, &'a str)>,
    /// Raw 16-bit words, 4 columns × 2 rows.
    words: Vec<u16>,
}

/// Writes a 4×2 CR file, 16 bits allocated, 12 stored (high bit 11), unsigned.
fn write_film(path: &Path, film: &Film<'_>) {
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag, vr, value: PrimitiveValue| obj.put(DataElement::new(tag, vr, value));
    put(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(CR_STORAGE),
    );
    put(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("2.25.1234567"),
    );
    put(tags::MODALITY, VR::CS, PrimitiveValue::from("CR"));
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from(film.photometric),
    );
    put(tags::ROWS, VR::US, PrimitiveValue::from(2u16));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(4u16));
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16));
    put(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    );
    if let Some((center, width)) = film.window {
        let strs = |s: &str| PrimitiveValue::Strs(s.split('\\').map(str::to_owned).collect());
        put(tags::WINDOW_CENTER, VR::DS, strs(center));
        put(tags::WINDOW_WIDTH, VR::DS, strs(width));
    }
    if let Some((intercept, slope)) = film.rescale {
        put(
            tags::RESCALE_INTERCEPT,
            VR::DS,
            PrimitiveValue::from(intercept),
        );
        put(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from(slope));
    }
    put(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(film.words.iter().copied().collect()),
    );
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_VR_LE))
        .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    file.write_to_file(path).unwrap();
}

/// Ingests one DICOM file (without extension, found by its magic) at its own size.
fn ingest(film: &Film<'_>) -> Vec<u8> {
    let data = tempfile::tempdir().unwrap();
    write_film(&data.path().join("xray/film0001"), film);
    let cfg: FolderConfig =
        serde_json::from_value(serde_json::json!({ "root": data.path() })).unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = load_folder(&cfg, data.path(), out.path()).unwrap();
    assert_eq!((summary.manifest.width, summary.manifest.height), (4, 2));
    let record = &summary.manifest.images[0];
    assert_eq!(record.path, "images/xray/film0001-1.png");
    read_gray(&out.path().join(&record.path)).into_raw()
}

/// PS3.3 C.11.2.1.2.1 LINEAR window to 0..=255.
fn linear(x: f64, center: f64, width: f64) -> f64 {
    if x <= center - 0.5 - (width - 1.0) / 2.0 {
        0.0
    } else if x > center - 0.5 + (width - 1.0) / 2.0 {
        255.0
    } else {
        ((x - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    }
}

fn assert_close(got: &[u8], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g) - w).abs() <= 0.5 + 1e-9,
            "pixel {i}: got {g}, want {w:.2} ({got:?})"
        );
    }
}

/// Stored values 0..4095; the top 4 bits of each word carry overlay junk that must
/// be masked off.
fn words(stored: &[u16]) -> Vec<u16> {
    stored.iter().map(|&v| 0xA000 | v).collect()
}

const STORED: [u16; 8] = [0, 1000, 1548, 1800, 2048, 2300, 2548, 4095];

#[test]
fn monochrome1_is_windowed_then_inverted() {
    let film = Film {
        photometric: "MONOCHROME1",
        window: Some(("2048\\500", "1000\\100")),
        rescale: None,
        words: words(&STORED),
    };
    let got = ingest(&film);
    let want: Vec<f64> = STORED
        .iter()
        .map(|&v| 255.0 - linear(f64::from(v), 2048.0, 1000.0))
        .collect();
    assert_close(&got, &want);
    // In MONOCHROME1 the lowest value is white: it must come out 255, the highest 0.
    assert_eq!(got[0], 255);
    assert_eq!(got[7], 0);
    assert_eq!(got[4], 127, "centre: 255 - 127.6");
}

#[test]
fn rescale_applies_before_the_window() {
    // Modality values: 2·stored − 1000; window 3000 ± 1000.
    let film = Film {
        photometric: "MONOCHROME2",
        window: Some(("3000", "2000")),
        rescale: Some(("-1000", "2")),
        words: words(&STORED),
    };
    let got = ingest(&film);
    let want: Vec<f64> = STORED
        .iter()
        .map(|&v| linear(2.0 * f64::from(v) - 1000.0, 3000.0, 2000.0))
        .collect();
    assert_close(&got, &want);
}

#[test]
fn without_a_window_min_and_max_span_the_range() {
    let film = Film {
        photometric: "MONOCHROME1",
        window: None,
        rescale: None,
        words: words(&[1000, 1100, 1200, 1300, 1400, 1500, 1600, 2000]),
    };
    let got = ingest(&film);
    let want: Vec<f64> = [
        1000.0, 1100.0, 1200.0, 1300.0, 1400.0, 1500.0, 1600.0, 2000.0,
    ]
    .iter()
    .map(|v| 255.0 - (v - 1000.0) / 1000.0 * 255.0)
    .collect();
    assert_close(&got, &want);
    assert_eq!((got[0], got[7]), (255, 0));
}

#[test]
fn dicom_is_resized_like_any_image() {
    let data = tempfile::tempdir().unwrap();
    let film = Film {
        photometric: "MONOCHROME2",
        window: None,
        rescale: None,
        words: words(&STORED),
    };
    write_film(&data.path().join("xray/a.dcm"), &film);
    let cfg: FolderConfig =
        serde_json::from_value(serde_json::json!({ "root": data.path(), "size": 8 })).unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = load_folder(&cfg, data.path(), out.path()).unwrap();
    let image = read_gray(&out.path().join(&summary.manifest.images[0].path));
    assert_eq!(image.dimensions(), (8, 8));
}
