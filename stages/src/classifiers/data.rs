//! Reading image sets into memory and turning them into batches.
//!
//! Images are decoded once and resized to the training size as 8-bit pixels (a few
//! hundred MB even for large sets at 224 px); augmentation and normalisation happen per
//! batch on the host, from seeded streams, so a batch depends only on (seed, epoch,
//! image) and never on thread timing.

use std::fs;
use std::io::BufReader;
use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::augment::augment;
use super::config::AugmentConfig;
use crate::StageError;
use crate::image_set::ImageSetManifest;
use crate::rng::keyed_rng;

/// Intensity normalisation: the mean and standard deviation of ImageNet's three channels
/// averaged, so grayscale inputs match what ImageNet-pretrained stems expect.
pub(super) const NORM_MEAN: f32 = 0.449;
pub(super) const NORM_STD: f32 = 0.226;

/// An image set held in memory, resized to `size` × `size`.
pub(crate) struct LoadedSet {
    pub classes: Vec<String>,
    pub size: usize,
    pub pixels: Vec<Vec<u8>>,
    pub labels: Vec<usize>,
}

impl LoadedSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Images per class, in class order.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &label in &self.labels {
            counts[label] += 1;
        }
        counts
    }
}

/// Loads the image set in `dir`. With `classes` given (a model's classes), labels are
/// indices into it and an image of any other class is an error; without, the set's own
/// class list defines them.
pub(crate) fn load_image_set(
    dir: &Path,
    size: u32,
    classes: Option<&[String]>,
) -> Result<LoadedSet, StageError> {
    let manifest = ImageSetManifest::read(dir)?;
    let classes = classes.map_or_else(|| manifest.classes.clone(), <[String]>::to_vec);
    let size = size as usize;
    let mut pixels = Vec::with_capacity(manifest.images.len());
    let mut labels = Vec::with_capacity(manifest.images.len());
    for record in &manifest.images {
        let label = classes
            .iter()
            .position(|c| *c == record.label)
            .ok_or_else(|| StageError::UnknownClass {
                path: dir.join(&record.path),
                class: record.label.clone(),
                known: classes.join(", "),
            })?;
        let (width, height, gray) = read_gray_png(&dir.join(&record.path))?;
        pixels.push(resize(&gray, width, height, size));
        labels.push(label);
    }
    Ok(LoadedSet {
        classes,
        size,
        pixels,
        labels,
    })
}

/// Decodes any 8- or 16-bit PNG to 8-bit luminance.
fn read_gray_png(path: &Path) -> Result<(usize, usize, Vec<u8>), StageError> {
    let decode_err = |source: png::DecodingError| StageError::DecodeImage {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let file = fs::File::open(path).map_err(|source| StageError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(decode_err)?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader.next_frame(&mut buf).map_err(decode_err)?;
    let (width, height) = (info.width as usize, info.height as usize);
    let data = &buf[..info.buffer_size()];
    let gray = match info.color_type {
        png::ColorType::Grayscale => data.to_vec(),
        png::ColorType::GrayscaleAlpha => data.chunks_exact(2).map(|p| p[0]).collect(),
        png::ColorType::Rgb => data.chunks_exact(3).map(luma).collect(),
        png::ColorType::Rgba => data.chunks_exact(4).map(luma).collect(),
        // normalize_to_color8 expands palettes, so this cannot happen.
        png::ColorType::Indexed => {
            return Err(StageError::InvalidImage {
                path: path.to_owned(),
                reason: "indexed colour was not expanded".to_owned(),
            });
        }
    };
    if gray.len() != width * height || width == 0 || height == 0 {
        return Err(StageError::InvalidImage {
            path: path.to_owned(),
            reason: format!("{width}×{height} image with {} pixels", gray.len()),
        });
    }
    Ok((width, height, gray))
}

/// ITU-R BT.601 luma, as PIL's `convert("L")`.
fn luma(rgb: &[u8]) -> u8 {
    let [r, g, b] = [rgb[0], rgb[1], rgb[2]].map(u32::from);
    ((r * 299 + g * 587 + b * 114 + 500) / 1000) as u8
}

/// Resizes to `size` × `size` with a separable triangle filter whose support widens when
/// shrinking (antialiased, like PIL's bilinear). Aspect ratio is not preserved: the
/// study's images are square and stretching keeps the whole field of view.
pub(crate) fn resize(src: &[u8], width: usize, height: usize, size: usize) -> Vec<u8> {
    if width == size && height == size {
        return src.to_vec();
    }
    let rows: Vec<f32> = src.iter().map(|&p| f32::from(p)).collect();
    let horizontal = resample_axis(&rows, width, height, size, true);
    let both = resample_axis(&horizontal, size, height, size, false);
    both.iter()
        .map(|&v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// Resamples one axis of a `width` × `height` image to `out_len` samples.
fn resample_axis(
    src: &[f32],
    width: usize,
    height: usize,
    out_len: usize,
    along_x: bool,
) -> Vec<f32> {
    let in_len = if along_x { width } else { height };
    let scale = in_len as f32 / out_len as f32;
    let support = scale.max(1.0);
    // Filter taps per output sample, computed once per axis.
    let taps: Vec<(usize, Vec<f32>)> = (0..out_len)
        .map(|o| {
            let center = (o as f32 + 0.5) * scale;
            let lo = ((center - support).floor().max(0.0)) as usize;
            let hi = ((center + support).ceil() as usize).min(in_len);
            let mut weights: Vec<f32> = (lo..hi)
                .map(|i| (1.0 - ((i as f32 + 0.5 - center) / support).abs()).max(0.0))
                .collect();
            let total: f32 = weights.iter().sum();
            if total > 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            (lo, weights)
        })
        .collect();
    let (out_w, out_h) = if along_x {
        (out_len, height)
    } else {
        (width, out_len)
    };
    let mut out = vec![0.0; out_w * out_h];
    for y in 0..out_h {
        for x in 0..out_w {
            let (o, fixed) = if along_x { (x, y) } else { (y, x) };
            let (lo, weights) = &taps[o];
            out[y * out_w + x] = weights
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    let i = lo + k;
                    let idx = if along_x {
                        fixed * width + i
                    } else {
                        i * width + fixed
                    };
                    w * src[idx]
                })
                .sum();
        }
    }
    out
}

/// One batch on the device.
pub(super) struct Batch {
    /// [batch, 1, size, size], normalised.
    pub images: Tensor<4>,
    /// [batch] class indices.
    pub labels: Tensor<1, Int>,
}

/// Builds the batch of images `indices` of `set`; augmented (for training) when
/// `augment` is given, keyed by (seed, epoch, image index).
pub(super) fn make_batch(
    set: &LoadedSet,
    indices: &[usize],
    augment_with: Option<(&AugmentConfig, u64, usize)>,
    device: &Device,
) -> Batch {
    let size = set.size;
    let mut values = Vec::with_capacity(indices.len() * size * size);
    let mut labels = Vec::with_capacity(indices.len());
    for &i in indices {
        let unit: Vec<f32> = match augment_with {
            Some((cfg, seed, epoch)) => {
                let mut rng = keyed_rng(seed, "augment", &[epoch as u64, i as u64]);
                augment(&set.pixels[i], size, cfg, &mut rng)
            }
            None => set.pixels[i]
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect(),
        };
        values.extend(unit.iter().map(|v| (v - NORM_MEAN) / NORM_STD));
        labels.push(set.labels[i] as i64);
    }
    let n = indices.len();
    Batch {
        images: Tensor::from_data(TensorData::new(values, [n, 1, size, size]), device),
        labels: Tensor::from_data(TensorData::new(labels, [n]), device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_keeps_flat_images_flat_and_is_identity_at_same_size() {
        let flat = vec![100u8; 40 * 30];
        assert!(resize(&flat, 40, 30, 16).iter().all(|&p| p == 100));
        assert!(resize(&flat, 40, 30, 64).iter().all(|&p| p == 100));
        let ramp: Vec<u8> = (0..64).map(|i| (i * 4) as u8).collect();
        assert_eq!(resize(&ramp, 8, 8, 8), ramp);
    }

    #[test]
    fn resize_averages_when_shrinking() {
        // A 2×2 checkerboard of 4×4 blocks averages to mid-gray at 2×2 → 1×1 per block.
        let mut img = vec![0u8; 8 * 8];
        for y in 0..8 {
            for x in 0..8 {
                img[y * 8 + x] = if (x + y) % 2 == 0 { 255 } else { 0 };
            }
        }
        let small = resize(&img, 8, 8, 2);
        assert!(small.iter().all(|&p| (110..=145).contains(&p)), "{small:?}");
    }

    #[test]
    fn luma_weights() {
        assert_eq!(luma(&[255, 255, 255]), 255);
        assert_eq!(luma(&[0, 0, 0]), 0);
        assert_eq!(luma(&[255, 0, 0]), 76);
    }
}
