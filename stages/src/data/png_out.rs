//! 8-bit grayscale PNG output with pinned encoder settings, so identical pixels always
//! give identical bytes.

use std::fs;
use std::path::Path;

use image::GrayImage;

use crate::StageError;

pub(crate) fn write_gray_png(path: &Path, image: &GrayImage) -> Result<(), StageError> {
    let encode_err = |source| StageError::EncodePng {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, image.width(), image.height());
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    // Pinned rather than defaulted: a default change would change the cache contents.
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder.write_header().map_err(encode_err)?;
    writer
        .write_image_data(image.as_raw())
        .map_err(encode_err)?;
    writer.finish().map_err(encode_err)?;
    fs::write(path, &bytes).map_err(|source| StageError::Write {
        path: path.to_owned(),
        source,
    })
}
