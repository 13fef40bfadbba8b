//! Training-time augmentation of one image: a random affine warp (flip, rotation, shift,
//! zoom) followed by brightness, contrast and noise, all drawn from the image's own
//! stream.

use rand_chacha::ChaCha8Rng;

use super::config::AugmentConfig;
use crate::rng::{normal, symmetric, unit};

/// Augments a `size` × `size` 8-bit image; returns intensities in [0, 1].
pub(super) fn augment(
    pixels: &[u8],
    size: usize,
    cfg: &AugmentConfig,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    // Draw every parameter first, in a fixed order, whatever the config enables.
    let flip = unit(rng) < 0.5 && cfg.hflip;
    let angle = symmetric(rng, cfg.max_rotate_deg).to_radians();
    let shift_x = symmetric(rng, cfg.max_translate) * size as f64;
    let shift_y = symmetric(rng, cfg.max_translate) * size as f64;
    let zoom = 1.0 + symmetric(rng, cfg.max_scale);
    let brightness = symmetric(rng, cfg.brightness) as f32;
    let contrast = 1.0 + symmetric(rng, cfg.contrast) as f32;

    let mut out = warp(pixels, size, flip, angle, shift_x, shift_y, zoom);
    let mean = out.iter().sum::<f32>() / out.len() as f32;
    let noise_std = cfg.noise_std as f32;
    for v in &mut out {
        let mut x = (*v - mean) * contrast + mean + brightness;
        if noise_std > 0.0 {
            x += noise_std * normal(rng);
        }
        *v = x.clamp(0.0, 1.0);
    }
    out
}

/// Output pixel p samples the source at F⁻¹·R⁻¹·((p − c − t) / zoom) + c, where c is the
/// centre: i.e. the source is flipped, rotated, zoomed and shifted, in that order.
/// Bilinear, with black outside the source (torchvision's RandomAffine fill=0).
fn warp(
    pixels: &[u8],
    size: usize,
    flip: bool,
    angle: f64,
    shift_x: f64,
    shift_y: f64,
    zoom: f64,
) -> Vec<f32> {
    let c = (size as f64 - 1.0) / 2.0;
    let (sin, cos) = angle.sin_cos();
    let sample = |x: f64, y: f64| -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
        let at = |xi: f64, yi: f64| -> f32 {
            if xi < 0.0 || yi < 0.0 || xi >= size as f64 || yi >= size as f64 {
                0.0
            } else {
                f32::from(pixels[yi as usize * size + xi as usize]) / 255.0
            }
        };
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
        let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
        top * (1.0 - fy) + bottom * fy
    };
    let mut out = Vec::with_capacity(size * size);
    for py in 0..size {
        for px in 0..size {
            let dx = (px as f64 - c - shift_x) / zoom;
            let dy = (py as f64 - c - shift_y) / zoom;
            // Inverse rotation.
            let rx = cos * dx + sin * dy;
            let ry = -sin * dx + cos * dy;
            let sx = if flip { -rx } else { rx };
            out.push(sample(sx + c, ry + c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn gradient(size: usize) -> Vec<u8> {
        (0..size * size)
            .map(|i| ((i % size) * 255 / (size - 1)) as u8)
            .collect()
    }

    #[test]
    fn no_augmentation_is_identity() {
        let img = gradient(16);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let out = augment(&img, 16, &AugmentConfig::none(), &mut rng);
        for (o, &p) in out.iter().zip(&img) {
            assert!((o - f32::from(p) / 255.0).abs() < 1e-6);
        }
    }

    #[test]
    fn flip_mirrors_left_right() {
        let img = gradient(16);
        let out = warp(&img, 16, true, 0.0, 0.0, 0.0, 1.0);
        assert!((out[0] - 1.0).abs() < 1e-6 && out[15].abs() < 1e-6);
    }

    #[test]
    fn same_stream_same_result() {
        let img = gradient(32);
        let cfg = AugmentConfig::default();
        let a = augment(&img, 32, &cfg, &mut ChaCha8Rng::seed_from_u64(9));
        let b = augment(&img, 32, &cfg, &mut ChaCha8Rng::seed_from_u64(9));
        let c = augment(&img, 32, &cfg, &mut ChaCha8Rng::seed_from_u64(10));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
