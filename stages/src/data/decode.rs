//! Reading any supported image file into 8-bit grayscale.

use std::fs;
use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, GrayImage, ImageDecoder as _, ImageReader};

use super::dicom;
use crate::StageError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads PNG, JPEG or DICOM (told apart by content, not by extension) as 8-bit gray.
pub(crate) fn read_gray(path: &Path) -> Result<GrayImage, StageError> {
    let bytes = fs::read(path).map_err(|source| StageError::Read {
        path: path.to_owned(),
        source,
    })?;
    let decoded = if dicom::has_magic(&bytes) {
        dicom::decode_gray(&bytes)
    } else if bytes.starts_with(b"\x89PNG") || bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        decode_raster(bytes)
    } else {
        Err("it is not a PNG, JPEG or DICOM file".into())
    };
    let image = decoded.map_err(|source| StageError::DecodeImage {
        path: path.to_owned(),
        source,
    })?;
    if image.width() == 0 || image.height() == 0 {
        return Err(StageError::DecodeImage {
            path: path.to_owned(),
            source: "it has no pixels".into(),
        });
    }
    Ok(image)
}

/// PNG or JPEG, with EXIF orientation applied (phones and some scanners rotate by
/// tag instead of by pixels). Colour becomes luma; 16-bit becomes 8-bit.
fn decode_raster(bytes: Vec<u8>) -> Result<GrayImage, BoxError> {
    let mut decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image.into_luma8())
}
