//! Turning a patient's density map into one film: positioning, exposure, detector
//! response and noise, then 8-bit quantisation.
//!
//! A patient has a typical positioning and exposure ([`FilmBase`]); each of their
//! images jitters around it ([`Shot`]), like repeat films of the same person.

use super::raster::{Canvas, ValueNoise};
use super::rng::Rng;

/// Converts density to brightness, `1 - exp(-K d)`: dense regions saturate towards
/// white like on film, and lungs stay dark grey rather than black.
const K: f32 = 1.5;

#[derive(Clone, Copy, Debug)]
struct Pose {
    angle: f32,
    scale: f32,
    shift_u: f32,
    shift_v: f32,
}

#[derive(Clone, Copy, Debug)]
struct Exposure {
    brightness: f32,
    contrast: f32,
    gamma: f32,
    noise: f32,
}

/// A patient's typical positioning and exposure.
pub(super) struct FilmBase {
    pose: Pose,
    exposure: Exposure,
}

/// One image's positioning and exposure.
pub(super) struct Shot {
    pose: Pose,
    exposure: Exposure,
}

impl FilmBase {
    pub(super) fn sample(rng: &mut Rng) -> Self {
        Self {
            pose: Pose {
                angle: rng.range(-0.06, 0.06),
                scale: rng.range(0.94, 1.06),
                shift_u: rng.range(-0.05, 0.05),
                shift_v: rng.range(-0.05, 0.05),
            },
            exposure: Exposure {
                brightness: rng.range(-0.06, 0.06),
                contrast: rng.range(0.85, 1.2),
                gamma: rng.range(0.8, 1.25),
                noise: rng.range(0.008, 0.025),
            },
        }
    }
}

impl Shot {
    pub(super) fn sample(base: &FilmBase, rng: &mut Rng) -> Self {
        let (p, e) = (base.pose, base.exposure);
        Self {
            pose: Pose {
                angle: p.angle + rng.range(-0.025, 0.025),
                scale: p.scale * rng.range(0.98, 1.02),
                shift_u: p.shift_u + rng.range(-0.03, 0.03),
                shift_v: p.shift_v + rng.range(-0.03, 0.03),
            },
            exposure: Exposure {
                brightness: e.brightness + rng.range(-0.03, 0.03),
                contrast: e.contrast * rng.range(0.95, 1.05),
                gamma: e.gamma * rng.range(0.95, 1.05),
                noise: e.noise * rng.range(0.8, 1.2),
            },
        }
    }

    /// Renders the film as 8-bit grey levels, row-major.
    pub(super) fn expose(&self, density: &Canvas, rng: &mut Rng) -> Vec<u8> {
        let Pose {
            angle,
            scale,
            shift_u,
            shift_v,
        } = self.pose;
        let (s, c) = (-angle).sin_cos();
        let mut film = density.warped(|u, v| {
            let (du, dv) = ((u - shift_u) / scale, (v - shift_v) / scale);
            (du * c - dv * s, du * s + dv * c)
        });

        // Film grain: white noise softened by a fraction of a pixel, rescaled so that
        // `noise` stays its standard deviation.
        let mut grain = Canvas::new(density.size());
        let mut fast = rng.fast();
        grain.for_each(|_, _, p| *p = fast.grain());
        grain.blur(grain.pixel() * 0.5);
        let grain_gain = self.exposure.noise * 1.6;
        // Uneven exposure across the field (heel effect, scatter).
        let uneven = ValueNoise::new(rng, 2);

        let Exposure {
            brightness,
            contrast,
            gamma,
            ..
        } = self.exposure;
        let mut i = 0;
        film.for_each(|u, v, p| {
            let signal = 1.0 - (-K * p.max(0.0)).exp() + 0.03 * uneven.at(u, v);
            let exposed = ((signal - 0.5) * contrast + 0.5 + brightness).clamp(0.0, 1.0);
            *p = exposed.powf(gamma) + grain_gain * grain.data()[i];
            i += 1;
        });
        film.data()
            .iter()
            .map(|p| (p.clamp(0.0, 1.0) * 255.0 + 0.5) as u8)
            .collect()
    }
}
