//! One lung field of the phantom's anatomy (see `anatomy.rs`), in the normalised
//! coordinates of [`Canvas`](super::raster::Canvas): the outline the anatomy, the skeleton
//! and the findings are drawn against.

use super::rng::Rng;

/// Widening profile of the lung from the apex (t = 0) to full width (t >= 1): blunter
/// than a parabola so the apex is a rounded dome, not a point.
fn dome(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    (1.0 - (1.0 - t).powi(2)).sqrt().powf(0.6)
}

/// One lung field: a rounded apex, a convex lateral wall, a straighter medial border
/// and a diaphragm dome that dips into a sharp costophrenic angle laterally.
#[derive(Clone, Copy, Debug)]
pub(super) struct Lung {
    /// -1 for the image-left (patient right) lung, +1 for the other.
    pub side: f32,
    pub apex_v: f32,
    apex_m: f32,
    pub medial_m: f32,
    pub lateral_m: f32,
    /// Top of the diaphragm dome.
    pub dome_v: f32,
    pub dome_m: f32,
    /// The costophrenic angle, the lowest point of the lung field.
    pub base_v: f32,
}

impl Lung {
    pub(super) fn sample(
        rng: &mut Rng,
        side: f32,
        width: f32,
        height: f32,
        body: f32,
        drop: f32,
    ) -> Self {
        let lateral_m = (0.78 * width).min(body - 0.07);
        let dome_v = 0.32 * height + drop + rng.range(-0.04, 0.04);
        Self {
            side,
            apex_v: -0.76 + rng.range(-0.04, 0.04) + drop * 0.3,
            apex_m: lateral_m * rng.range(0.44, 0.5),
            medial_m: rng.range(0.07, 0.1),
            lateral_m,
            dome_v,
            dome_m: lateral_m * rng.range(0.45, 0.55),
            base_v: dome_v + rng.range(0.15, 0.24),
        }
    }

    /// 0 at the apex, 1 at the costophrenic angle.
    pub(super) fn depth(&self, v: f32) -> f32 {
        (v - self.apex_v) / (self.base_v - self.apex_v)
    }

    pub(super) fn lateral_at(&self, v: f32) -> f32 {
        self.apex_m + (self.lateral_m - self.apex_m) * dome(self.depth(v) * 1.25).powf(1.3)
    }

    pub(super) fn medial_at(&self, v: f32) -> f32 {
        self.apex_m - (self.apex_m - self.medial_m) * dome(self.depth(v) * 2.2)
    }

    /// Lower edge of the lung field at lateral position `m`.
    pub(super) fn diaphragm_at(&self, m: f32) -> f32 {
        let lateral = (self.base_v - self.dome_v) / (self.lateral_m - self.dome_m).powi(2);
        // The cardiophrenic angle is shallower than the costophrenic one.
        let curve = if m > self.dome_m {
            lateral
        } else {
            lateral * 0.5
        };
        self.dome_v + curve * (m - self.dome_m).powi(2)
    }

    /// Approximate signed distance to the outline, positive inside.
    pub(super) fn inside(&self, u: f32, v: f32) -> f32 {
        let m = self.side * u;
        (m - self.medial_at(v))
            .min(self.lateral_at(v) - m)
            .min(self.diaphragm_at(m) - v)
            .min(v - self.apex_v)
    }

    /// Where the vessels and bronchi enter, about mid-height beside the mediastinum.
    pub(super) fn hilum(&self) -> (f32, f32) {
        let v = self.apex_v + 0.5 * (self.dome_v - self.apex_v);
        (self.side * (self.medial_m + 0.08), v)
    }
}
