//! Bones: posterior and anterior ribs, clavicles and the spine.

use std::f32::consts::TAU;

use super::lung::Lung;
use super::raster::{Canvas, Ellipse, smoothstep};
use super::rng::Rng;

const POSTERIOR_RIBS: usize = 10;
const ANTERIOR_RIBS: usize = 6;

pub(super) struct Skeleton {
    /// Where the first posterior rib leaves the spine.
    rib_top_v: f32,
    rib_spacing: f32,
    rib_half: f32,
    rib_amp: f32,
    /// How far the ribs droop along the lateral chest wall.
    rib_droop: f32,
    clavicle_v: f32,
    clavicle_tilt: f32,
    spine_half: f32,
    spine_amp: f32,
    vertebra_phase: f32,
}

impl Skeleton {
    pub(super) fn sample(rng: &mut Rng, lungs: &[Lung; 2]) -> Self {
        let apex_v = lungs[0].apex_v.min(lungs[1].apex_v);
        let base_v = lungs[0].base_v.max(lungs[1].base_v);
        let rib_top_v = apex_v + rng.range(0.05, 0.1);
        let rib_spacing =
            (base_v - rib_top_v) / (POSTERIOR_RIBS as f32 + 1.5 - rng.range(0.4, 1.2));
        Self {
            rib_top_v,
            rib_spacing,
            rib_half: rib_spacing * rng.range(0.2, 0.26),
            rib_amp: rng.range(0.06, 0.1),
            rib_droop: rng.range(0.85, 1.1),
            clavicle_v: apex_v + rng.range(0.1, 0.18),
            clavicle_tilt: rng.range(0.2, 0.32),
            spine_half: rng.range(0.06, 0.075),
            spine_amp: rng.range(0.08, 0.12),
            vertebra_phase: rng.range(0.0, 1.0),
        }
    }

    pub(super) fn draw(&self, density: &mut Canvas, lungs: &[Lung; 2]) {
        self.draw_spine(density);
        for lung in lungs {
            self.draw_ribs(density, lung);
            self.draw_clavicle(density, lung);
        }
    }

    /// Posterior ribs arch gently out of the spine and droop along the lateral wall;
    /// the fainter anterior ribs run obliquely down towards the sternum.
    fn draw_ribs(&self, density: &mut Canvas, lung: &Lung) {
        let wall = lung.lateral_m + 0.1;
        for k in 0..POSTERIOR_RIBS {
            // Lower ribs sit further apart.
            let k = k as f32;
            let v0 = self.rib_top_v + (k + 0.03 * k * k) * self.rib_spacing;
            let droop = self.rib_droop;
            let reach = if k == 0.0 { wall * 0.6 } else { wall };
            let half = self.rib_half * (0.85 + 0.3 * k / POSTERIOR_RIBS as f32);
            let centre = move |m: f32| v0 - 0.35 * m + droop * m * m * m;
            density.add_band(lung.side, 0.05, reach, centre, half, self.rib_amp, 0.35);
        }
        for k in 0..ANTERIOR_RIBS {
            let v0 = self.rib_top_v + 0.12 + k as f32 * self.rib_spacing * 1.15;
            let lateral = lung.lateral_m;
            let centre = move |m: f32| v0 + 0.3 * (lateral - m) - 0.15 * (m - lateral).powi(2);
            let half = self.rib_half * 1.1;
            density.add_band(
                lung.side,
                0.18,
                wall,
                centre,
                half,
                self.rib_amp * 0.6,
                0.15,
            );
        }
    }

    fn draw_clavicle(&self, density: &mut Canvas, lung: &Lung) {
        let (v0, tilt) = (self.clavicle_v, self.clavicle_tilt);
        // A gentle S: the shaft bows down medially and up again at the shoulder.
        let centre = move |m: f32| v0 - tilt * m + 0.05 * (std::f32::consts::TAU * m).sin();
        let half = self.rib_half * 1.7;
        density.add_band(
            lung.side,
            0.06,
            lung.lateral_m + 0.12,
            centre,
            half,
            0.14,
            0.5,
        );
    }

    /// A faint vertical column with vertebral bodies, disc spaces and pedicles; it
    /// mostly shows through the mediastinum and heart.
    fn draw_spine(&self, density: &mut Canvas) {
        let (half, amp, period) = (self.spine_half, self.spine_amp, self.rib_spacing);
        let phase = self.vertebra_phase;
        density.for_each_in(-half * 1.5, -1.0, half * 1.5, 1.0, |u, v, p| {
            let column = 1.0 - smoothstep(half * 0.8, half * 1.2, u.abs());
            let discs = 0.85 + 0.15 * (TAU * (v / period + phase)).cos();
            *p += amp * column * discs;
        });
        let first = ((-1.0 / period) - phase).floor() as i32;
        for i in first..=first + (2.0 / period) as i32 + 1 {
            let cv = (i as f32 - phase) * period;
            for side in [-1.0, 1.0] {
                let pedicle = Ellipse {
                    cu: side * half * 0.75,
                    cv,
                    rx: half * 0.22,
                    ry: period * 0.18,
                    angle: 0.0,
                    edge: 0.3,
                };
                density.add_ellipse(&pedicle, amp * 0.35);
            }
        }
    }
}
