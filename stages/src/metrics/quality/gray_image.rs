//! The grayscale image that the pixel-space metrics take.

use crate::StageError;

/// A grayscale image with values in [0, 1] (the data range of SSIM's constants), stored
/// row-major. Checked on construction, so the metrics never see a malformed one.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    width: usize,
    height: usize,
    pixels: Vec<f32>,
}

impl GrayImage {
    /// Fails when `pixels` does not hold `width · height` values or a value lies outside
    /// [0, 1] (e.g. 0–255 data: use [`GrayImage::from_u8`]) or is NaN.
    pub fn new(width: usize, height: usize, pixels: Vec<f32>) -> Result<Self, StageError> {
        if width.checked_mul(height) != Some(pixels.len()) || pixels.is_empty() {
            return Err(StageError::InvalidConfig(format!(
                "a gray image of {width}x{height} pixels cannot hold {} values",
                pixels.len()
            )));
        }
        if let Some(i) = pixels.iter().position(|p| !(0.0..=1.0).contains(p)) {
            return Err(StageError::InvalidConfig(format!(
                "gray image pixel {i} is {}, outside [0, 1]",
                pixels[i]
            )));
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// An 8-bit image, each value divided by 255.
    pub fn from_u8(width: usize, height: usize, pixels: &[u8]) -> Result<Self, StageError> {
        let scaled = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        Self::new(width, height, scaled)
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// Row-major, `width · height` values in [0, 1].
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_size_and_range() {
        assert!(GrayImage::new(2, 2, vec![0.0, 0.5, 1.0, 0.25]).is_ok());
        assert!(GrayImage::new(2, 2, vec![0.0; 3]).is_err());
        assert!(GrayImage::new(0, 0, vec![]).is_err());
        assert!(GrayImage::new(1, 1, vec![1.5]).is_err());
        assert!(GrayImage::new(1, 1, vec![f32::NAN]).is_err());
        let image = GrayImage::from_u8(2, 1, &[0, 255]).unwrap();
        assert_eq!(image.pixels(), [0.0, 1.0]);
    }
}
