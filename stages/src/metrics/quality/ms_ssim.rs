//! SSIM and multi-scale SSIM (Wang, Simoncelli & Bovik 2003) of grayscale images, as
//! pytorch_msssim 1.0 computes them (its defaults, data range 1), in f64.
//!
//! Per scale: an 11×11 Gaussian window (σ = 1.5) applied as a valid (unpadded)
//! separable convolution, K1 = 0.01, K2 = 0.03; the means of the contrast-structure map
//! (cs) and of the SSIM map (luminance · cs). MS-SSIM multiplies cs^wᵢ over the first
//! scales and SSIM^w at the last, negative values clamped to zero first (pytorch_msssim's
//! `relu`). Between scales, 2×2 average pooling; a side of odd length is zero-padded by
//! one pixel on each end first and the padding counted in the average (pytorch_msssim
//! pads with `s % 2` and `avg_pool2d` counts padding by default), so the first row or
//! column of the smaller image is darkened.

use super::gray_image::GrayImage;
use crate::StageError;

/// The published weights of the five scales, finest first. They sum to 1.0001, and are
/// used as they are with five scales (as pytorch_msssim does).
pub const MS_SSIM_WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

const WINDOW: usize = 11;
const WINDOW_SIGMA: f64 = 1.5;
/// (K1 · data range)² and (K2 · data range)², data range 1.
const C1: f64 = 0.01 * 0.01;
const C2: f64 = 0.03 * 0.03;

/// MS-SSIM of one pair of images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MsSsim {
    /// In [0, 1]; 1 for identical images.
    pub value: f64,
    /// Scales used: 5, or fewer for small images (see [`ms_ssim_scales`]).
    pub scales: usize,
}

/// How many scales MS-SSIM uses for images of this size: the most, up to 5, for which
/// the coarsest scale still holds an 11×11 window on both sides. That takes a shorter
/// side above 10 · 2^(scales − 1) pixels: more than 160 for all five (pytorch_msssim's
/// own limit), more than 40 for three (64 px images). 0 means even SSIM does not fit.
pub fn ms_ssim_scales(width: usize, height: usize) -> usize {
    let (mut width, mut height) = (width, height);
    let mut scales = 0;
    while scales < MS_SSIM_WEIGHTS.len() && width >= WINDOW && height >= WINDOW {
        scales += 1;
        width = width.div_ceil(2);
        height = height.div_ceil(2);
    }
    scales
}

/// MS-SSIM of two images of one size.
///
/// Images too small for five scales (a shorter side of 160 px or less, where
/// pytorch_msssim refuses) use as many as [`ms_ssim_scales`] allows, with the leading
/// weights scaled to sum to 1; [`MsSsim::scales`] says how many. Values at different
/// scale counts are not comparable. Fails when the sizes differ or a side is below 11.
pub fn ms_ssim(a: &GrayImage, b: &GrayImage) -> Result<MsSsim, StageError> {
    let scales = checked_scales("MS-SSIM", a, b)?;
    let weights = &MS_SSIM_WEIGHTS[..scales];
    let weight_sum: f64 = if scales == MS_SSIM_WEIGHTS.len() {
        1.0
    } else {
        weights.iter().sum()
    };
    let window = gaussian_window();
    let (mut x, mut y) = (Plane::from_image(a), Plane::from_image(b));
    let mut value = 1.0;
    for (scale, weight) in weights.iter().enumerate() {
        let (ssim, cs) = ssim_and_cs(&x, &y, &window);
        let last = scale + 1 == scales;
        let term = if last { ssim } else { cs };
        value *= term.max(0.0).powf(weight / weight_sum);
        if !last {
            x = x.downsampled();
            y = y.downsampled();
        }
    }
    Ok(MsSsim { value, scales })
}

/// Single-scale SSIM of two images of one size: the mean of the SSIM map over the valid
/// region, not clamped (it can be negative). Fails when the sizes differ or a side is
/// below 11.
pub fn ssim(a: &GrayImage, b: &GrayImage) -> Result<f64, StageError> {
    checked_scales("SSIM", a, b)?;
    let (ssim, _) = ssim_and_cs(
        &Plane::from_image(a),
        &Plane::from_image(b),
        &gaussian_window(),
    );
    Ok(ssim)
}

/// The scale count for a pair, or why the pair cannot be compared.
pub(super) fn checked_scales(
    metric: &str,
    a: &GrayImage,
    b: &GrayImage,
) -> Result<usize, StageError> {
    if (a.width(), a.height()) != (b.width(), b.height()) {
        return Err(StageError::InvalidConfig(format!(
            "{metric} needs images of one size, got {}x{} and {}x{}",
            a.width(),
            a.height(),
            b.width(),
            b.height()
        )));
    }
    match ms_ssim_scales(a.width(), a.height()) {
        0 => Err(StageError::InvalidConfig(format!(
            "{metric} needs images of at least {WINDOW}x{WINDOW} pixels, got {}x{}",
            a.width(),
            a.height()
        ))),
        scales => Ok(scales),
    }
}

/// The normalised 1-D Gaussian, centred on the middle tap.
fn gaussian_window() -> [f64; WINDOW] {
    let mut window = [0.0; WINDOW];
    for (i, w) in window.iter_mut().enumerate() {
        let offset = i as f64 - (WINDOW / 2) as f64;
        *w = (-offset * offset / (2.0 * WINDOW_SIGMA * WINDOW_SIGMA)).exp();
    }
    let sum: f64 = window.iter().sum();
    window.map(|w| w / sum)
}

/// The means of the SSIM map and of the contrast-structure map of one scale.
fn ssim_and_cs(x: &Plane, y: &Plane, window: &[f64; WINDOW]) -> (f64, f64) {
    let mu_x = x.blurred(window);
    let mu_y = y.blurred(window);
    let xx = x.zip_map(x, |a, b| a * b).blurred(window);
    let yy = y.zip_map(y, |a, b| a * b).blurred(window);
    let xy = x.zip_map(y, |a, b| a * b).blurred(window);
    let (mut ssim_sum, mut cs_sum) = (0.0, 0.0);
    for i in 0..mu_x.values.len() {
        let (mx, my) = (mu_x.values[i], mu_y.values[i]);
        let var_x = xx.values[i] - mx * mx;
        let var_y = yy.values[i] - my * my;
        let cov = xy.values[i] - mx * my;
        let cs = (2.0 * cov + C2) / (var_x + var_y + C2);
        let luminance = (2.0 * mx * my + C1) / (mx * mx + my * my + C1);
        cs_sum += cs;
        ssim_sum += luminance * cs;
    }
    let n = mu_x.values.len() as f64;
    (ssim_sum / n, cs_sum / n)
}

/// One scale of an image, row-major, in f64.
#[derive(Debug, Clone, PartialEq)]
struct Plane {
    width: usize,
    height: usize,
    values: Vec<f64>,
}

impl Plane {
    fn from_image(image: &GrayImage) -> Self {
        Self {
            width: image.width(),
            height: image.height(),
            values: image.pixels().iter().map(|&p| f64::from(p)).collect(),
        }
    }

    fn zip_map(&self, other: &Plane, f: impl Fn(f64, f64) -> f64) -> Plane {
        let values = self.values.iter().zip(&other.values);
        Plane {
            values: values.map(|(&a, &b)| f(a, b)).collect(),
            ..*self
        }
    }

    /// Valid convolution with the separable window: down the columns, then along the
    /// rows; each side shrinks by `WINDOW − 1`. Both sides must be at least `WINDOW`.
    fn blurred(&self, window: &[f64; WINDOW]) -> Plane {
        let (width, height) = (self.width, self.height - (WINDOW - 1));
        let mut vertical = vec![0.0; width * height];
        for row in 0..height {
            for (tap, w) in window.iter().enumerate() {
                let source = &self.values[(row + tap) * width..][..width];
                let target = &mut vertical[row * width..][..width];
                for (t, s) in target.iter_mut().zip(source) {
                    *t += w * s;
                }
            }
        }
        let out_width = width - (WINDOW - 1);
        let mut values = Vec::with_capacity(out_width * height);
        for row in vertical.chunks_exact(width) {
            for column in 0..out_width {
                let taps = row[column..][..WINDOW].iter().zip(window);
                values.push(taps.map(|(v, w)| v * w).sum());
            }
        }
        Plane {
            width: out_width,
            height,
            values,
        }
    }

    /// 2×2 average pooling with pytorch_msssim's padding: a side of odd length gets one
    /// zero on each end, so the output keeps ⌈side / 2⌉ and each window starts one pixel
    /// earlier (the first one half in the padding); always divided by 4.
    fn downsampled(&self) -> Plane {
        let (pad_x, pad_y) = (self.width % 2, self.height % 2);
        let (width, height) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let at = |x: usize, y: usize| -> f64 {
            // `x`, `y` are padded coordinates; the padding reads as zero.
            match (x.checked_sub(pad_x), y.checked_sub(pad_y)) {
                (Some(x), Some(y)) if x < self.width && y < self.height => {
                    self.values[y * self.width + x]
                }
                _ => 0.0,
            }
        };
        let mut values = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let (px, py) = (2 * x, 2 * y);
                let sum = at(px, py) + at(px + 1, py) + at(px, py + 1) + at(px + 1, py + 1);
                values.push(sum / 4.0);
            }
        }
        Plane {
            width,
            height,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_count_follows_the_window() {
        assert_eq!(ms_ssim_scales(161, 400), 5);
        assert_eq!(ms_ssim_scales(160, 400), 4);
        assert_eq!(ms_ssim_scales(256, 256), 5);
        assert_eq!(ms_ssim_scales(64, 64), 3);
        assert_eq!(ms_ssim_scales(11, 11), 1);
        assert_eq!(ms_ssim_scales(10, 400), 0);
    }

    #[test]
    fn window_is_a_normalised_symmetric_gaussian() {
        let w = gaussian_window();
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(w[0], w[10]);
        assert!(w[5] > w[4] && w[4] > w[3]);
        // exp(−1/4.5): the ratio of neighbouring taps at offsets 0 and 1.
        assert!((w[4] / w[5] - (-1.0f64 / 4.5).exp()).abs() < 1e-15);
    }

    #[test]
    fn odd_sides_pool_with_a_leading_zero() {
        // 3×1: padded to [0, 1, 2, 3, (0)] along x; windows (0, 1) and (2, 3); height 1 is
        // odd too, so each window also takes a zero row: (0 + 1) / 4 and (2 + 3) / 4.
        let plane = Plane {
            width: 3,
            height: 1,
            values: vec![1.0, 2.0, 3.0],
        };
        let pooled = plane.downsampled();
        assert_eq!((pooled.width, pooled.height), (2, 1));
        assert_eq!(pooled.values, [0.25, 1.25]);
        let even = Plane {
            width: 2,
            height: 2,
            values: vec![1.0, 2.0, 3.0, 4.0],
        };
        assert_eq!(even.downsampled().values, [2.5]);
    }

    #[test]
    fn blur_of_a_constant_is_that_constant_on_the_valid_region() {
        let plane = Plane {
            width: 13,
            height: 12,
            values: vec![0.5; 13 * 12],
        };
        let blurred = plane.blurred(&gaussian_window());
        assert_eq!((blurred.width, blurred.height), (3, 2));
        assert!(blurred.values.iter().all(|v| (v - 0.5).abs() < 1e-15));
    }

    #[test]
    fn rejects_mismatched_and_tiny_images() {
        let small = GrayImage::new(10, 10, vec![0.5; 100]).unwrap();
        let other = GrayImage::new(12, 12, vec![0.5; 144]).unwrap();
        assert!(ssim(&small, &small).is_err());
        let message = ms_ssim(&other, &GrayImage::new(12, 11, vec![0.5; 132]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(message.contains("12x12 and 12x11"), "{message}");
    }
}
