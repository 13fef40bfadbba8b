//! Real images in, synthetic image sets out: generators see pixels in [−1, 1].

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::{Device, Tensor, TensorData};
use image::GrayImage;

use crate::StageError;
use crate::classifiers::data::{LoadedSet, load_image_set};
use crate::data::out_dir::create_dir_all;
use crate::data::png_out::write_gray_png;
use crate::image_set::{IMAGE_SET_FORMAT, IMAGES_DIR, ImageRecord, ImageSetManifest};

/// The images of one class, resized to `size`, as rows of `size²` values in [−1, 1].
pub(crate) struct ClassImages {
    pub size: usize,
    pub rows: Vec<Vec<f32>>,
}

/// Loads the image set in `dir` at `size` px and groups it by class.
pub(crate) fn load_by_class(
    dir: &Path,
    size: u32,
) -> Result<(Vec<String>, Vec<ClassImages>), StageError> {
    let LoadedSet {
        classes,
        size,
        pixels,
        labels,
    } = load_image_set(dir, size, None)?;
    let mut groups: Vec<ClassImages> = classes
        .iter()
        .map(|_| ClassImages {
            size,
            rows: Vec::new(),
        })
        .collect();
    for (pixels, label) in pixels.into_iter().zip(labels) {
        groups[label]
            .rows
            .push(pixels.iter().map(|&p| f32::from(p) / 127.5 - 1.0).collect());
    }
    Ok((classes, groups))
}

/// Indices of the wanted classes (default: all), each checked against `classes`.
pub(crate) fn wanted_classes(
    classes: &[String],
    wanted: Option<&[String]>,
) -> Result<Vec<usize>, StageError> {
    let Some(wanted) = wanted else {
        return Ok((0..classes.len()).collect());
    };
    wanted
        .iter()
        .map(|class| {
            classes.iter().position(|c| c == class).ok_or_else(|| {
                StageError::InvalidConfig(format!(
                    "class {class:?} is not in the training set (it has {})",
                    classes.join(", ")
                ))
            })
        })
        .collect()
}

/// Draws images `0..count`, `batch` at a time, as rows of `row_len` values:
/// `draw_batch` makes the images of the given indices; `progress(done)` after each batch.
pub(crate) fn draw_rows(
    count: usize,
    batch: usize,
    row_len: usize,
    progress: &mut dyn FnMut(usize),
    cancel: &AtomicBool,
    mut draw_batch: impl FnMut(&[usize]) -> Result<Tensor<4>, StageError>,
) -> Result<Vec<Vec<f32>>, StageError> {
    let mut rows = Vec::with_capacity(count);
    let indices: Vec<usize> = (0..count).collect();
    for chunk in indices.chunks(batch.max(1)) {
        if cancel.load(Ordering::Relaxed) {
            return Err(StageError::Cancelled);
        }
        let values = draw_batch(chunk)?
            .try_into_vec_as::<f32>()
            .map_err(|err| StageError::Backend(format!("read samples from the device: {err}")))?;
        rows.extend(values.chunks_exact(row_len).map(<[f32]>::to_vec));
        progress(rows.len());
    }
    Ok(rows)
}

/// Stacks rows of `size²` pixels into a [n, 1, size, size] tensor, mirroring those whose
/// `flip` is set.
pub(crate) fn batch_tensor(
    rows: &[&[f32]],
    flips: &[bool],
    size: usize,
    device: &Device,
) -> Tensor<4> {
    let mut values = Vec::with_capacity(rows.len() * size * size);
    for (row, &flip) in rows
        .iter()
        .zip(flips.iter().chain(std::iter::repeat(&false)))
    {
        if flip {
            for line in row.chunks_exact(size) {
                values.extend(line.iter().rev());
            }
        } else {
            values.extend_from_slice(row);
        }
    }
    Tensor::from_data(TensorData::new(values, [rows.len(), 1, size, size]), device)
}

/// Pixels in [−1, 1] → 8-bit gray, rounding half away from zero.
pub(crate) fn to_u8(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .map(|&v| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8)
        .collect()
}

/// Writes synthetic images of one generator as an image set, one "patient" per image
/// (a synthetic image shares no anatomy with any other).
pub(crate) struct SyntheticWriter {
    dir: std::path::PathBuf,
    generator: String,
    classes: Vec<String>,
    size: u32,
    records: Vec<ImageRecord>,
}

impl SyntheticWriter {
    pub fn new(dir: &Path, generator: &str, classes: Vec<String>, size: u32) -> Self {
        Self {
            dir: dir.to_owned(),
            generator: generator.to_owned(),
            classes,
            size,
            records: Vec::new(),
        }
    }

    /// Saves image `index` of `class` from pixels in [−1, 1].
    pub fn add(&mut self, class: &str, index: usize, values: &[f32]) -> Result<(), StageError> {
        let rel = format!(
            "{IMAGES_DIR}/{class}/{}-{class}-{index:05}.png",
            self.generator
        );
        let path = self.dir.join(&rel);
        if let Some(parent) = path.parent() {
            create_dir_all(parent)?;
        }
        let image = GrayImage::from_raw(self.size, self.size, to_u8(values)).ok_or_else(|| {
            StageError::InvalidConfig(format!(
                "{} values for a {}-px image",
                values.len(),
                self.size
            ))
        })?;
        write_gray_png(&path, &image)?;
        self.records.push(ImageRecord {
            path: rel,
            label: class.to_owned(),
            patient_id: format!("synthetic-{}-{class}-{index:05}", self.generator),
            source: Some(format!("synthetic:{}", self.generator)),
            split: None,
        });
        Ok(())
    }

    pub fn finish(self) -> Result<ImageSetManifest, StageError> {
        let manifest = ImageSetManifest {
            format: IMAGE_SET_FORMAT,
            classes: self.classes,
            width: self.size,
            height: self.size,
            images: self.records,
        };
        manifest.write(&self.dir)?;
        Ok(manifest)
    }
}
