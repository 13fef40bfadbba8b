//! Patient anatomy: body, lungs, heart and mediastinum, diaphragm, airways and vessels.
//!
//! Sampled once per patient and shared by all of that patient's images. Geometry is in
//! the normalised coordinates of [`Canvas`], for a PA radiograph: image left is the
//! patient's right, so the heart bulges to the image right and the higher (right)
//! hemidiaphragm is on the image left. Lateral positions inside one hemithorax use
//! `m = side * u`, the distance from the midline.

use super::lung::Lung;
use super::raster::{Canvas, Ellipse, smoothstep};
use super::rng::Rng;
use super::skeleton::Skeleton;

/// Density removed by a full-depth column of lung air. Soft tissue is about 1.
const AIR: f32 = 0.78;

pub(super) struct Anatomy {
    body_half_width: f32,
    soft_tissue: f32,
    /// `[patient right (image left), patient left (image right)]`.
    pub lungs: [Lung; 2],
    heart: Ellipse,
    mediastinum_half_width: f32,
    aortic_knob: Ellipse,
    gastric_bubble: Option<Ellipse>,
    skeleton: Skeleton,
}

/// The rendered patient in the canonical (unposed) frame.
pub(super) struct Body {
    /// Attenuation along each ray: 0 is air, soft tissue about 1.
    pub density: Canvas,
    /// Soft lung-field membership in [0, 1], heart and mediastinum carved out.
    pub lungs: Canvas,
    /// Density the lung air removes at each pixel. A finding that fills a fraction `f`
    /// of the air spaces adds back `f * air`, so even a dense consolidation never gets
    /// brighter than the soft tissue around it.
    pub air: Canvas,
}

impl Anatomy {
    pub(super) fn sample(rng: &mut Rng) -> Self {
        let body_half_width = rng.range(0.84, 0.97);
        let width = rng.range(0.92, 1.05);
        let height = rng.range(0.92, 1.06);
        let right = Lung::sample(rng, -1.0, width, height, body_half_width, 0.0);
        // The liver pushes the right dome up; the left one sits lower.
        let drop = rng.range(0.03, 0.09);
        let left = Lung::sample(rng, 1.0, width * 0.97, height, body_half_width, drop);
        // The heart sits on the diaphragm: its lower part merges with the abdomen, so
        // only a dome bulging to the patient's left shows above it.
        let rx = rng.range(0.3, 0.4);
        let ry = rx * rng.range(0.62, 0.8);
        let heart = Ellipse {
            cu: rng.range(0.05, 0.12),
            cv: left.dome_v - ry * rng.range(0.05, 0.25),
            rx,
            ry,
            angle: rng.range(0.2, 0.45),
            edge: 0.04,
        };
        let mediastinum_half_width = rng.range(0.085, 0.12);
        let knob_r = rng.range(0.04, 0.055);
        let aortic_knob = Ellipse {
            cu: mediastinum_half_width + knob_r * 0.1,
            cv: heart.cv - heart.ry - rng.range(0.12, 0.2),
            rx: knob_r,
            ry: knob_r,
            angle: 0.0,
            edge: 0.15,
        };
        let gastric_bubble = rng.chance(0.7).then(|| Ellipse {
            cu: left.dome_m + rng.range(-0.1, 0.1),
            cv: left.dome_v + rng.range(0.1, 0.16),
            rx: rng.range(0.06, 0.12),
            ry: rng.range(0.04, 0.07),
            angle: 0.0,
            edge: 0.3,
        });
        let skeleton = Skeleton::sample(rng, &[right, left]);
        Self {
            body_half_width,
            soft_tissue: rng.range(0.9, 1.05),
            lungs: [right, left],
            heart,
            mediastinum_half_width,
            aortic_knob,
            gastric_bubble,
            skeleton,
        }
    }

    pub(super) fn render(&self, size: usize, rng: &mut Rng) -> Body {
        let mut lungs = Canvas::new(size);
        let soft = lungs.pixel() * 0.8;
        let top_of_heart = self.heart.cv - self.heart.ry;
        lungs.for_each(|u, v, p| {
            // The vascular pedicle widens down towards the heart.
            let mw = self.mediastinum_half_width + 0.07 * smoothstep(-0.5, top_of_heart, v);
            let field = self
                .lungs
                .iter()
                .map(|lung| smoothstep(-soft, soft, lung.inside(u, v)))
                .fold(0.0, f32::max);
            let mediastinum = 1.0 - smoothstep(mw - 0.02, mw + 0.02, u.abs());
            *p = field
                * (1.0 - self.heart.mask(u, v))
                * (1.0 - mediastinum)
                * (1.0 - self.aortic_knob.mask(u, v));
        });

        // Lungs are rounded, so rays cross less air near their edges (while the pleural
        // line itself stays crisp); the bases are deeper front to back than the apices.
        let mut rounded = lungs.clone();
        rounded.blur(0.05);
        let mut air = lungs.clone();
        air.blur(air.pixel() * 0.7);
        air.for_each(|u, v, p| {
            let depth = self.lung_on(u).depth(v).clamp(0.0, 1.0);
            *p *= AIR * (0.8 + 0.3 * depth) * rounded.sample(u, v).powf(0.7);
        });

        let mut density = Canvas::new(size);
        density.for_each(|u, v, p| {
            let body = self.body_thickness(u, v);
            let lung = self.lung_on(u);
            let below_dome = smoothstep(-0.02, 0.04, v - lung.diaphragm_at(u.abs()));
            let solid = below_dome.max(self.heart.mask(u, v));
            *p = body * (self.soft_tissue + 0.1 * solid);
        });
        density.add_scaled(&air, -1.0);
        if let Some(bubble) = &self.gastric_bubble {
            density.add_ellipse(bubble, -0.25);
        }
        self.draw_airways(&mut density);
        self.draw_vessels(&mut density, &lungs, rng);
        self.skeleton.draw(&mut density, &self.lungs);
        Body {
            density,
            lungs,
            air,
        }
    }

    fn lung_on(&self, u: f32) -> &Lung {
        &self.lungs[usize::from(u > 0.0)]
    }

    /// Relative path length through the body: a rounded chest that widens into the
    /// shoulders at the top of the film.
    fn body_thickness(&self, u: f32, v: f32) -> f32 {
        // The rib cage narrows towards the axillae; the shoulders widen again above.
        let half = self.body_half_width * (0.93 + 0.07 * smoothstep(-0.6, 0.3, v))
            + 0.1 * smoothstep(-0.5, -0.95, v);
        let r = (u / half).abs();
        let chest = (1.0 - r * r).max(0.0).sqrt() * (1.0 - smoothstep(0.97, 1.02, r));
        // Only the outer shoulders curve down into the frame; the neck runs off the top.
        let shoulder_top = -1.25 + 0.4 * r.powi(4);
        chest * smoothstep(shoulder_top - 0.03, shoulder_top + 0.05, v)
    }

    /// The trachea and main bronchi: faint dark tubes over the mediastinum.
    fn draw_airways(&self, density: &mut Canvas) {
        let [right, left] = &self.lungs;
        let (rh, lh) = (right.hilum(), left.hilum());
        let carina = (0.0, rh.1.min(lh.1) - 0.12);
        density.add_segment((0.0, -1.1), carina, 0.07, 0.06, -0.12);
        density.add_segment(carina, rh, 0.045, 0.03, -0.07);
        density.add_segment(carina, lh, 0.045, 0.03, -0.07);
    }

    /// Hilar shadows and the branching pulmonary vessels that fade towards the
    /// periphery, so a healthy lung is not a flat dark field.
    fn draw_vessels(&self, density: &mut Canvas, lungs: &Canvas, rng: &mut Rng) {
        let mut vessels = Canvas::new(density.size());
        for lung in &self.lungs {
            let (hu, hv) = lung.hilum();
            vessels.add_blob(hu, hv, 0.06, 0.09);
            for i in 0..9 {
                let angle = -1.25 + 2.5 * (i as f32 + rng.range(0.1, 0.9)) / 9.0;
                let dir = (lung.side * angle.cos(), angle.sin());
                // Trunks leave from along the hilum, not from one point, to avoid a star.
                let start = (hu + dir.0 * 0.03, hv + 0.07 * angle.sin());
                let length = rng.range(0.13, 0.2);
                branch(&mut vessels, rng, start, dir, length, 0.024, 0.08, 3);
            }
        }
        vessels.blur(vessels.pixel() * 0.6);
        vessels.mul(lungs);
        density.add_scaled(&vessels, 1.0);
    }
}

/// Draws one vessel segment and recurses into two thinner, shorter children.
#[allow(clippy::too_many_arguments)]
fn branch(
    canvas: &mut Canvas,
    rng: &mut Rng,
    from: (f32, f32),
    dir: (f32, f32),
    length: f32,
    width: f32,
    amp: f32,
    depth: u32,
) {
    let to = (from.0 + dir.0 * length, from.1 + dir.1 * length);
    canvas.add_segment(from, to, width, width * 0.7, amp);
    if depth == 0 {
        return;
    }
    for turn in [-1.0, 1.0] {
        let angle = turn * rng.range(0.25, 0.6);
        let (s, c) = angle.sin_cos();
        let child = (dir.0 * c - dir.1 * s, dir.0 * s + dir.1 * c);
        let length = length * rng.range(0.6, 0.8);
        branch(
            canvas,
            rng,
            to,
            child,
            length,
            width * 0.7,
            amp * 0.8,
            depth - 1,
        );
    }
}
