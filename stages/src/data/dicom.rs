//! DICOM pixel data → 8-bit grayscale for display, the way a radiology viewer shows it.
//!
//! Per PS3.3 C.11: stored values (masked to Bits Stored, sign-extended when signed)
//! → modality rescale (slope, intercept) → VOI window (the first Window Center/Width,
//! with its VOI LUT Function) or, without a window, the min/max of the image →
//! MONOCHROME1 inverted so that dense tissue (bone) is bright, as in MONOCHROME2.

use std::io::Cursor;

use dicom_object::OpenFileOptions;
use dicom_object::file::ReadPreamble;
use dicom_pixeldata::{
    DecodedPixelData, PhotometricInterpretation, PixelDecoder as _, PixelRepresentation,
    VoiLutFunction, WindowLevelTransform,
};
use image::GrayImage;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A DICOM Part 10 file: 128-byte preamble, then "DICM".
pub(crate) fn has_magic(bytes: &[u8]) -> bool {
    bytes.get(128..132) == Some(b"DICM".as_slice())
}

/// Decodes the first frame of a grayscale DICOM file.
pub(crate) fn decode_gray(bytes: &[u8]) -> Result<GrayImage, BoxError> {
    let object = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Always)
        .from_reader(Cursor::new(bytes))?;
    let pixels = object.decode_pixel_data_frame(0)?;
    let invert = match pixels.photometric_interpretation() {
        PhotometricInterpretation::Monochrome1 => true,
        PhotometricInterpretation::Monochrome2 => false,
        other => {
            return Err(format!(
                "its photometric interpretation is {other}; only MONOCHROME1/2 are supported"
            )
            .into());
        }
    };
    if pixels.samples_per_pixel() != 1 {
        return Err(format!(
            "it has {} samples per pixel; grayscale has 1",
            pixels.samples_per_pixel()
        )
        .into());
    }
    let values = modality_values(&pixels)?;
    let voi = match window(&pixels)? {
        Some(transform) => Voi::Window(transform),
        None => Voi::min_max(&values),
    };
    let gray: Vec<u8> = values
        .iter()
        .map(|&v| {
            let y = voi.apply(v).clamp(0.0, 255.0);
            let y = if invert { 255.0 - y } else { y };
            y.round() as u8
        })
        .collect();
    GrayImage::from_raw(pixels.columns(), pixels.rows(), gray)
        .ok_or_else(|| "its pixel data is shorter than rows × columns".into())
}

/// The VOI stage: modality values → 0..=255 display values.
enum Voi {
    Window(WindowLevelTransform),
    /// No window in the file: the image's own range spans the display.
    MinMax {
        lo: f64,
        span: f64,
    },
}

impl Voi {
    fn min_max(values: &[f64]) -> Self {
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        Voi::MinMax { lo, span: hi - lo }
    }

    fn apply(&self, value: f64) -> f64 {
        match self {
            Voi::Window(transform) => transform.apply(value, 255.0),
            Voi::MinMax { lo, span } if *span > 0.0 => (value - lo) / span * 255.0,
            Voi::MinMax { .. } => 0.0,
        }
    }
}

/// Stored values after the modality rescale, in row-major order.
fn modality_values(pixels: &DecodedPixelData<'_>) -> Result<Vec<f64>, BoxError> {
    let bits_stored = u32::from(pixels.bits_stored());
    let high_bit = u32::from(pixels.high_bit());
    let allocated = u32::from(pixels.bits_allocated());
    if !matches!(allocated, 8 | 16) {
        return Err(
            format!("it allocates {allocated} bits per sample; 8 or 16 are supported").into(),
        );
    }
    if bits_stored == 0
        || bits_stored > allocated
        || high_bit + 1 < bits_stored
        || high_bit >= allocated
    {
        return Err(format!(
            "its bits stored ({bits_stored}) and high bit ({high_bit}) do not fit {allocated} allocated bits"
        )
        .into());
    }
    // Bits above the stored ones may hold overlays or garbage: shift them out.
    let shift = high_bit + 1 - bits_stored;
    let mask = (1u32 << bits_stored) - 1;
    let signed = pixels.pixel_representation() == PixelRepresentation::Signed;
    let stored = |raw: u32| -> f64 {
        let v = (raw >> shift) & mask;
        if signed && v & (1 << (bits_stored - 1)) != 0 {
            f64::from(v) - f64::from(1u32 << bits_stored)
        } else {
            f64::from(v)
        }
    };
    let rescale = pixels
        .rescale()?
        .first()
        .copied()
        .unwrap_or(dicom_pixeldata::Rescale::new(1.0, 0.0));
    let data = pixels.data();
    let count = pixels.rows() as usize * pixels.columns() as usize;
    // Decoded pixel data is in native byte order.
    let raw: Vec<u32> = if allocated == 8 {
        data.iter().take(count).map(|&b| u32::from(b)).collect()
    } else {
        data.chunks_exact(2)
            .take(count)
            .map(|pair| u32::from(u16::from_ne_bytes([pair[0], pair[1]])))
            .collect()
    };
    if raw.len() < count {
        return Err("its pixel data is shorter than rows × columns".into());
    }
    Ok(raw.into_iter().map(|r| rescale.apply(stored(r))).collect())
}

/// The first VOI window, if the file has a usable one.
fn window(pixels: &DecodedPixelData<'_>) -> Result<Option<WindowLevelTransform>, BoxError> {
    let Some(level) = pixels.window()?.and_then(|levels| levels.first().copied()) else {
        return Ok(None);
    };
    if !(level.width > 0.0 && level.width.is_finite() && level.center.is_finite()) {
        return Ok(None);
    }
    let function = pixels
        .voi_lut_function()?
        .and_then(|functions| functions.first().copied())
        .unwrap_or(VoiLutFunction::Linear);
    Ok(Some(WindowLevelTransform::new(function, level)))
}
