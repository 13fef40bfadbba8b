//! Fixtures for the data, split and metrics tests: tiny images written into temp dirs.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use augflow_stages::image_set::ImageSetManifest;
use image::{GrayImage, Luma};

/// A `width`×`height` gray gradient, so resizing and cropping have something to move.
pub fn gradient(width: u32, height: u32, base: u8) -> GrayImage {
    GrayImage::from_fn(width, height, |x, y| {
        Luma([base.wrapping_add((x * 7 + y * 3) as u8)])
    })
}

/// Writes an image, creating parent folders; the format follows the extension.
pub fn write_image(path: &Path, image: &GrayImage) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(path).unwrap();
}

pub fn write_png(path: &Path, width: u32, height: u32) {
    write_image(path, &gradient(width, height, 40));
}

pub fn write_file(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Every file under `dir`, by relative path.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_owned();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// (path, label, patient, split) of each record, in manifest order.
pub fn rows(manifest: &ImageSetManifest) -> Vec<(String, String, String, Option<String>)> {
    manifest
        .images
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.label.clone(),
                r.patient_id.clone(),
                r.split.clone(),
            )
        })
        .collect()
}

/// (label, patient, split) of each record, in manifest order.
pub fn label_patient_split(manifest: &ImageSetManifest) -> Vec<(&str, &str, Option<&str>)> {
    manifest
        .images
        .iter()
        .map(|r| (r.label.as_str(), r.patient_id.as_str(), r.split.as_deref()))
        .collect()
}

/// `message` contains every one of `needles`; the failure names the one it lacks.
pub fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(message.contains(needle), "no {needle:?} in: {message}");
    }
}

/// Decodes an output PNG, checking it is 8-bit grayscale.
pub fn read_gray(path: &Path) -> GrayImage {
    match image::open(path).unwrap() {
        image::DynamicImage::ImageLuma8(image) => image,
        other => panic!("{} is {:?}, not 8-bit gray", path.display(), other.color()),
    }
}
