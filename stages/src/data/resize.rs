//! Bringing every image to one square size.

use image::GrayImage;
use image::imageops::{self, FilterType};

/// Scales the shorter side to `size` and centre-crops the longer one to a square.
///
/// Crops the central square first and then scales it: the same picture as scaling
/// then cropping, but the filter runs on fewer pixels and the output is exactly
/// `size`×`size` without rounding the longer side. Lanczos3 widens its kernel when
/// shrinking, so downscaling a 2000 px film to 224 px does not alias.
pub(crate) fn square(image: GrayImage, size: u32) -> GrayImage {
    let (width, height) = image.dimensions();
    let side = width.min(height);
    let cropped = if width == height {
        image
    } else {
        imageops::crop_imm(&image, (width - side) / 2, (height - side) / 2, side, side).to_image()
    };
    if side == size {
        cropped
    } else {
        imageops::resize(&cropped, size, size, FilterType::Lanczos3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_the_centre_of_the_longer_side() {
        // 6 wide, 2 high: columns 2 and 3 are the centre square, and bright.
        let image = GrayImage::from_fn(6, 2, |x, _| {
            image::Luma([if x == 2 || x == 3 { 200 } else { 0 }])
        });
        let out = square(image, 2);
        assert_eq!(out.dimensions(), (2, 2));
        assert!(out.pixels().all(|p| p.0[0] == 200));
    }

    #[test]
    fn scales_to_the_requested_size() {
        let image = GrayImage::from_pixel(40, 30, image::Luma([90]));
        let out = square(image, 16);
        assert_eq!(out.dimensions(), (16, 16));
        assert!(out.pixels().all(|p| p.0[0].abs_diff(90) <= 1));
    }
}
