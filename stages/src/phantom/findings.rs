//! Class-specific findings.
//!
//! A finding is a *fill fraction* map in [0, 1]: how much of the air in the lungs is
//! replaced by fluid or tissue. The caller turns it into density with the lung-air map,
//! so findings only appear inside the lungs and saturate at soft-tissue density, as on a
//! real film. Location, extent and severity vary per patient; a quarter of the patients
//! have subtle findings so the classes are learnable but not trivially separable.

use super::anatomy::Body;
use super::config::Class;
use super::lung::Lung;
use super::raster::{Canvas, Ellipse, Fractal, smoothstep};
use super::rng::Rng;

/// Draws the findings of `class` for one patient.
pub(super) fn draw_findings(class: Class, lungs: &[Lung; 2], body: &Body, rng: &mut Rng) -> Canvas {
    let size = body.lungs.size();
    let severity = if rng.chance(0.25) {
        rng.range(0.2, 0.45)
    } else {
        rng.range(0.45, 1.0)
    };
    let mut fill = match class {
        Class::Healthy => Canvas::new(size),
        Class::Bacterial => lobar_consolidation(lungs, size, severity, rng),
        Class::Viral => perihilar_interstitial(lungs, size, severity, rng),
        Class::Covid19 => peripheral_ground_glass(lungs, size, severity, rng),
        Class::Fungal => nodules_and_cavities(&body.lungs, size, severity, rng),
    };
    fill.mul(&body.lungs);
    fill.for_each(|_, _, p| *p = p.clamp(0.0, 1.0));
    fill
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lobe {
    Upper,
    Middle,
    Lower,
}

/// Bacterial pneumonia: a dense opacity filling part of one lobe, usually a lower one,
/// with a sharp border along the fissure and, sometimes, dark air bronchograms.
fn lobar_consolidation(lungs: &[Lung; 2], size: usize, severity: f32, rng: &mut Rng) -> Canvas {
    let lung = lungs[usize::from(rng.chance(0.4))];
    let height = lung.base_v - lung.apex_v;
    let mid_m = 0.5 * (lung.medial_m + lung.lateral_m);
    let lobe = match rng.unit() {
        r if r < 0.5 => Lobe::Lower,
        r if r < 0.75 => Lobe::Middle,
        _ => Lobe::Upper,
    };
    let fissure_depth = match lobe {
        Lobe::Lower => rng.range(0.5, 0.62),
        Lobe::Middle => rng.range(0.42, 0.52),
        Lobe::Upper => rng.range(0.4, 0.52),
    };
    let fissure_v = lung.apex_v + height * fissure_depth;
    // Only an upper-lobe opacity lies above its fissure.
    let above = lobe == Lobe::Upper;
    let (cm, cv) = match lobe {
        Lobe::Upper => (mid_m, 0.5 * (lung.apex_v + fissure_v)),
        Lobe::Lower => (
            mid_m + rng.range(-0.05, 0.12),
            0.5 * (fissure_v + lung.base_v) + 0.05,
        ),
        // Middle lobe / lingula: medial, against the heart border.
        Lobe::Middle => (lung.medial_m + 0.15, fissure_v + 0.12),
    };
    let tilt = rng.range(-0.2, 0.2);
    let radius = 0.16 + 0.22 * severity;
    let level = 0.45 + 0.5 * severity;
    let edge = Fractal::new(rng, 4, 3);
    let texture = Fractal::new(rng, 8, 2);

    let mut fill = Canvas::new(size);
    let (cu, side) = (lung.side * cm, lung.side);
    fill.for_each(|u, v, p| {
        let r = ((u - cu).powi(2) + (v - cv).powi(2)).sqrt() / radius;
        let extent = 1.0 - smoothstep(0.6, 1.1, r + 0.35 * edge.at(u, v));
        *p = level * extent * (0.85 + 0.15 * texture.at(u, v)) * smoothstep(0.0, 0.04, side * u);
    });
    fill.blur(0.02);

    if rng.chance(0.6) {
        let mut bronchi = Canvas::new(size);
        let (hu, hv) = lung.hilum();
        let (du, dv) = (cu - hu, cv - hv);
        let len = (du * du + dv * dv).sqrt().max(1e-3);
        for _ in 0..rng.int(2, 4) {
            let angle = rng.range(-0.5, 0.5);
            let (s, c) = angle.sin_cos();
            let dir = ((du * c - dv * s) / len, (du * s + dv * c) / len);
            let start = (cu - dir.0 * radius * 0.6, cv - dir.1 * radius * 0.6);
            let end = (
                start.0 + dir.0 * radius * 1.2,
                start.1 + dir.1 * radius * 1.2,
            );
            bronchi.add_segment(start, end, 0.016, 0.008, 1.0);
        }
        bronchi.blur(bronchi.pixel() * 0.5);
        fill.for_each(|u, v, p| *p *= 1.0 - 0.4 * bronchi.sample(u, v).min(1.0));
    }

    // The fissure is a plane seen edge-on: a crisp border on one side only.
    let aa = fill.pixel() * 0.6;
    fill.for_each(|u, v, p| {
        let fissure = fissure_v + tilt * (side * u - mid_m);
        let below = smoothstep(fissure - aa, fissure + aa, v);
        *p *= if above { 1.0 - below } else { below };
    });
    fill
}

/// Viral pneumonia: bilateral streaky, reticular brightening radiating from the hila,
/// with a perihilar haze.
fn perihilar_interstitial(lungs: &[Lung; 2], size: usize, severity: f32, rng: &mut Rng) -> Canvas {
    let mut fill = Canvas::new(size);
    let reticulum = Fractal::new(rng, 12, 2);
    let reach = 0.22 + 0.2 * severity;
    for lung in lungs {
        let (hu, hv) = lung.hilum();
        let side_severity = severity * rng.range(0.75, 1.0);
        fill.add_blob(hu, hv, 0.12 + 0.08 * side_severity, 0.25 * side_severity);
        let streaks = 16 + (26.0 * side_severity) as u32;
        for _ in 0..streaks {
            let angle = rng.range(-1.4, 1.4);
            let mut dir = (lung.side * angle.cos(), angle.sin());
            // Start anywhere in the perihilar zone so the streaks don't form a star.
            let offset = rng.range(0.02, 0.14);
            let mut at = (
                hu + dir.0 * offset,
                hv + dir.1 * offset + rng.range(-0.06, 0.06),
            );
            let mut width = rng.range(0.01, 0.018);
            for _ in 0..rng.int(2, 3) {
                let length = reach * rng.range(0.2, 0.4);
                let next = (at.0 + dir.0 * length, at.1 + dir.1 * length);
                fill.add_segment(at, next, width, width * 0.8, 0.35 * side_severity);
                let turn = rng.range(-0.4, 0.4);
                let (s, c) = turn.sin_cos();
                dir = (dir.0 * c - dir.1 * s, dir.0 * s + dir.1 * c);
                at = next;
                width *= 0.8;
            }
        }
        let (rk, amp) = (-0.5 / (reach * reach), 0.45 * side_severity);
        fill.for_each(|u, v, p| {
            let d2 = (u - hu).powi(2) + (v - hv).powi(2);
            let ridge = smoothstep(0.75, 0.95, 1.0 - reticulum.at(u, v).abs());
            *p += amp * ridge * (rk * d2).exp() * smoothstep(0.0, 0.04, lung.side * u);
        });
    }
    fill.blur(0.008);
    fill
}

/// COVID-19: hazy, patchy ground glass at the periphery of both lower zones.
fn peripheral_ground_glass(lungs: &[Lung; 2], size: usize, severity: f32, rng: &mut Rng) -> Canvas {
    let mut fill = Canvas::new(size);
    let patches = Fractal::new(rng, 4, 2);
    let threshold = 0.25 - 0.35 * severity;
    for lung in lungs {
        let level = (0.3 + 0.4 * severity) * rng.range(0.7, 1.0);
        let upper_reach = rng.range(0.3, 0.5) - 0.15 * severity;
        fill.for_each(|u, v, p| {
            let m = lung.side * u;
            if m <= 0.0 {
                return;
            }
            let (medial, lateral) = (lung.medial_at(v), lung.lateral_at(v));
            let peripheral = smoothstep(0.35, 0.85, (m - medial) / (lateral - medial).max(1e-3));
            let lower = smoothstep(upper_reach, upper_reach + 0.3, lung.depth(v));
            let patchy = smoothstep(threshold - 0.15, threshold + 0.35, patches.at(u, v));
            *p += level * peripheral * lower * patchy;
        });
    }
    fill.blur(0.035);
    fill
}

/// Fungal pneumonia: faint diffuse ground glass with scattered nodules, some of them
/// cavitated (a bright ring around a dark centre), some with a ground-glass halo.
fn nodules_and_cavities(lung_field: &Canvas, size: usize, severity: f32, rng: &mut Rng) -> Canvas {
    let mut fill = Canvas::new(size);
    let haze = Fractal::new(rng, 5, 2);
    let level = 0.06 + 0.14 * severity;
    fill.for_each(|u, v, p| *p = level * (0.7 + 0.3 * haze.at(u, v)));

    let mut cavities = Canvas::new(size);
    let count = 3 + (10.0 * severity) as u32;
    for _ in 0..count {
        let Some((cu, cv)) = point_in_lungs(lung_field, rng) else {
            continue;
        };
        let r = rng.range(0.025, 0.05) * (0.8 + 0.4 * severity);
        let nodule = Ellipse {
            cu,
            cv,
            rx: r,
            ry: r * rng.range(0.85, 1.0),
            angle: rng.range(0.0, 3.0),
            edge: 0.3,
        };
        fill.add_ellipse(&nodule, rng.range(0.45, 0.8));
        if rng.chance(0.4) {
            fill.add_blob(cu, cv, r * 1.6, 0.2);
        }
        if rng.chance(0.4) {
            let hole = Ellipse {
                rx: nodule.rx * rng.range(0.45, 0.65),
                ry: nodule.ry * rng.range(0.45, 0.65),
                edge: 0.25,
                ..nodule
            };
            cavities.add_ellipse(&hole, 1.0);
        }
    }
    fill.for_each(|u, v, p| *p *= 1.0 - cavities.sample(u, v).min(1.0));
    fill
}

/// A random point well inside the lung fields (rejection sampling; `None` is so rare it
/// only drops a nodule).
fn point_in_lungs(lung_field: &Canvas, rng: &mut Rng) -> Option<(f32, f32)> {
    (0..64).find_map(|_| {
        let (u, v) = (rng.range(-0.9, 0.9), rng.range(-0.9, 0.9));
        (lung_field.sample(u, v) > 0.8).then_some((u, v))
    })
}
