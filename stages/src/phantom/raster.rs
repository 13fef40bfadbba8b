//! Small float canvas helpers.
//!
//! A [`Canvas`] is square and addressed in normalised coordinates: `u` runs left to
//! right and `v` top to bottom, both over [-1, 1], whatever the pixel size. Shapes are
//! therefore described once and render at any resolution. Drawing only touches the
//! pixels inside a shape's bounding box, and blurs are separable, to stay cheap.

use super::rng::Rng;

#[derive(Clone)]
pub(super) struct Canvas {
    size: usize,
    data: Vec<f32>,
}

impl Canvas {
    pub(super) fn new(size: usize) -> Self {
        Self {
            size,
            data: vec![0.0; size * size],
        }
    }

    pub(super) fn size(&self) -> usize {
        self.size
    }

    pub(super) fn data(&self) -> &[f32] {
        &self.data
    }

    /// Normalised coordinate of pixel centre `i` along either axis.
    pub(super) fn coord(&self, i: usize) -> f32 {
        (i as f32 + 0.5) * 2.0 / self.size as f32 - 1.0
    }

    /// Width of one pixel in normalised units.
    pub(super) fn pixel(&self) -> f32 {
        2.0 / self.size as f32
    }

    /// Indices of the pixel centres that lie within [lo, hi] (normalised).
    fn span(&self, lo: f32, hi: f32) -> std::ops::Range<usize> {
        let n = self.size as f32;
        let first = ((lo + 1.0) * 0.5 * n - 0.5).ceil().clamp(0.0, n) as usize;
        let end = ((hi + 1.0) * 0.5 * n - 0.5).floor() + 1.0;
        first..end.clamp(first as f32, n) as usize
    }

    /// Bilinear sample at (u, v); coordinates outside the canvas clamp to its edge.
    pub(super) fn sample(&self, u: f32, v: f32) -> f32 {
        let n = self.size as f32;
        let x = ((u + 1.0) * 0.5 * n - 0.5).clamp(0.0, n - 1.0);
        let y = ((v + 1.0) * 0.5 * n - 0.5).clamp(0.0, n - 1.0);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.size - 1), (y0 + 1).min(self.size - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let at = |x: usize, y: usize| self.data[y * self.size + x];
        let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx;
        let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
        top + (bottom - top) * fy
    }

    /// Calls `f(u, v, &mut value)` for every pixel.
    pub(super) fn for_each(&mut self, mut f: impl FnMut(f32, f32, &mut f32)) {
        self.for_each_in(-1.0, -1.0, 1.0, 1.0, &mut f);
    }

    /// Calls `f(u, v, &mut value)` for every pixel centre inside the box.
    pub(super) fn for_each_in(
        &mut self,
        u0: f32,
        v0: f32,
        u1: f32,
        v1: f32,
        mut f: impl FnMut(f32, f32, &mut f32),
    ) {
        let (cols, rows) = (self.span(u0, u1), self.span(v0, v1));
        let coords: Vec<f32> = cols.clone().map(|x| self.coord(x)).collect();
        for y in rows {
            let v = self.coord(y);
            let row = &mut self.data[y * self.size + cols.start..y * self.size + cols.end];
            for (p, &u) in row.iter_mut().zip(&coords) {
                f(u, v, p);
            }
        }
    }

    /// Adds `amp` times a soft-edged ellipse.
    pub(super) fn add_ellipse(&mut self, e: &Ellipse, amp: f32) {
        let reach = e.rx.max(e.ry) * (1.0 + e.edge) + self.pixel();
        let soft = e.edge.max(self.pixel() / e.rx.min(e.ry));
        self.for_each_in(
            e.cu - reach,
            e.cv - reach,
            e.cu + reach,
            e.cv + reach,
            |u, v, p| {
                *p += amp * (1.0 - smoothstep(1.0 - soft, 1.0 + soft, e.radius(u, v)));
            },
        );
    }

    /// Adds an isotropic gaussian bump of standard deviation `sigma`.
    pub(super) fn add_blob(&mut self, cu: f32, cv: f32, sigma: f32, amp: f32) {
        let reach = 3.0 * sigma;
        let k = -0.5 / (sigma * sigma);
        self.for_each_in(cu - reach, cv - reach, cu + reach, cv + reach, |u, v, p| {
            let (du, dv) = (u - cu, v - cv);
            *p += amp * (k * (du * du + dv * dv)).exp();
        });
    }

    /// Adds a stroke from `a` to `b` whose width tapers from `w0` to `w1`.
    pub(super) fn add_segment(&mut self, a: (f32, f32), b: (f32, f32), w0: f32, w1: f32, amp: f32) {
        let aa = self.pixel() * 0.7;
        let reach = w0.max(w1) + aa;
        let (du, dv) = (b.0 - a.0, b.1 - a.1);
        let len2 = (du * du + dv * dv).max(1e-12);
        self.for_each_in(
            a.0.min(b.0) - reach,
            a.1.min(b.1) - reach,
            a.0.max(b.0) + reach,
            a.1.max(b.1) + reach,
            |u, v, p| {
                let t = (((u - a.0) * du + (v - a.1) * dv) / len2).clamp(0.0, 1.0);
                let (eu, ev) = (u - a.0 - t * du, v - a.1 - t * dv);
                let dist = (eu * eu + ev * ev).sqrt();
                let half = 0.5 * (w0 + (w1 - w0) * t);
                // Thin strokes keep their total ink when narrower than a pixel.
                let gain = (2.0 * half / aa).min(1.0);
                *p += amp * gain * (1.0 - smoothstep(half - aa, half + aa, dist));
            },
        );
    }

    /// Adds a band that follows the curve `v = centre(m)` for `m` in [m0, m1], where
    /// `m = side * u` (distance from the midline on one side). Vertical sections are
    /// cheap to draw and, corrected for the slope, look like a constant-width band.
    /// `cortex` in [0, 1] brightens the band's edges like the cortex of a bone.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_band(
        &mut self,
        side: f32,
        m0: f32,
        m1: f32,
        centre: impl Fn(f32) -> f32,
        half: f32,
        amp: f32,
        cortex: f32,
    ) {
        let px = self.pixel();
        let (lo, hi) = if side < 0.0 { (-m1, -m0) } else { (m0, m1) };
        let fade = (m1 - m0) * 0.12;
        for x in self.span(lo, hi) {
            let m = side * self.coord(x);
            let vc = centre(m);
            let slope = (centre(m + 1e-3) - centre(m - 1e-3)) / 2e-3;
            let hv = half * (1.0 + slope * slope).sqrt();
            let ends = smoothstep(m0, m0 + fade, m) * (1.0 - smoothstep(m1 - fade, m1, m));
            let aa = (px * 0.7 / hv).min(0.5);
            for y in self.span(vc - hv - px, vc + hv + px) {
                let d = (self.coord(y) - vc).abs() / hv;
                let profile = 1.0 - cortex + cortex * d.powi(4).min(1.0);
                let inside = 1.0 - smoothstep(1.0 - aa, 1.0 + aa, d);
                self.data[y * self.size + x] += amp * ends * profile * inside;
            }
        }
    }

    /// Gaussian blur with standard deviation `sigma` (normalised units), separable and
    /// clamped at the edges.
    pub(super) fn blur(&mut self, sigma: f32) {
        let sigma_px = sigma / self.pixel();
        if sigma_px < 0.25 {
            return;
        }
        let radius = (3.0 * sigma_px).ceil() as isize;
        let kernel: Vec<f32> = (-radius..=radius)
            .map(|i| (-0.5 * (i as f32 / sigma_px).powi(2)).exp())
            .collect();
        let total: f32 = kernel.iter().sum();
        let kernel = kernel.into_iter().map(|k| k / total);

        // Rows, transpose, rows, transpose back: both passes then read contiguous,
        // edge-padded rows (this is the hot loop, and debug builds run the tests).
        let kernel: Vec<f32> = kernel.collect();
        blur_rows(&mut self.data, self.size, &kernel);
        transpose(&mut self.data, self.size);
        blur_rows(&mut self.data, self.size, &kernel);
        transpose(&mut self.data, self.size);
    }

    /// `self += other * k`, pixel by pixel.
    pub(super) fn add_scaled(&mut self, other: &Canvas, k: f32) {
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a += b * k;
        }
    }

    /// `self *= other`, pixel by pixel.
    pub(super) fn mul(&mut self, other: &Canvas) {
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a *= b;
        }
    }

    /// Resamples the canvas so that output point (u, v) shows `self` at `from(u, v)`.
    pub(super) fn warped(&self, from: impl Fn(f32, f32) -> (f32, f32)) -> Canvas {
        let mut out = Canvas::new(self.size);
        out.for_each(|u, v, p| {
            let (su, sv) = from(u, v);
            *p = self.sample(su, sv);
        });
        out
    }
}

/// A rotated ellipse with a soft edge (`edge` is relative to the radius).
#[derive(Clone, Copy, Debug)]
pub(super) struct Ellipse {
    pub cu: f32,
    pub cv: f32,
    pub rx: f32,
    pub ry: f32,
    /// Rotation of the x axis, radians; positive turns it towards +v (down).
    pub angle: f32,
    pub edge: f32,
}

impl Ellipse {
    /// Elliptical radius: 1 on the outline.
    pub(super) fn radius(&self, u: f32, v: f32) -> f32 {
        let (s, c) = self.angle.sin_cos();
        let (du, dv) = (u - self.cu, v - self.cv);
        let (a, b) = ((du * c + dv * s) / self.rx, (dv * c - du * s) / self.ry);
        (a * a + b * b).sqrt()
    }

    /// Soft membership in [0, 1].
    pub(super) fn mask(&self, u: f32, v: f32) -> f32 {
        1.0 - smoothstep(1.0 - self.edge, 1.0 + self.edge, self.radius(u, v))
    }
}

/// Smooth value noise in about [-1, 1] with `cells` lattice cells across the canvas.
pub(super) struct ValueNoise {
    cells: usize,
    lattice: Vec<f32>,
}

impl ValueNoise {
    pub(super) fn new(rng: &mut Rng, cells: usize) -> Self {
        let lattice = (0..(cells + 1) * (cells + 1))
            .map(|_| rng.range(-1.0, 1.0))
            .collect();
        Self { cells, lattice }
    }

    pub(super) fn at(&self, u: f32, v: f32) -> f32 {
        let n = self.cells as f32;
        let x = ((u + 1.0) * 0.5 * n).clamp(0.0, n - 1e-4);
        let y = ((v + 1.0) * 0.5 * n).clamp(0.0, n - 1e-4);
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (fade(x - x0 as f32), fade(y - y0 as f32));
        let stride = self.cells + 1;
        let at = |x: usize, y: usize| self.lattice[y * stride + x];
        let top = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * fx;
        let bottom = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * fx;
        top + (bottom - top) * fy
    }
}

/// Sum of value-noise octaves (each twice as fine and half as strong), about [-1, 1].
pub(super) struct Fractal(Vec<ValueNoise>);

impl Fractal {
    pub(super) fn new(rng: &mut Rng, cells: usize, octaves: usize) -> Self {
        Self(
            (0..octaves)
                .map(|o| ValueNoise::new(rng, cells << o))
                .collect(),
        )
    }

    pub(super) fn at(&self, u: f32, v: f32) -> f32 {
        let (mut sum, mut weight, mut total) = (0.0, 1.0, 0.0);
        for octave in &self.0 {
            sum += weight * octave.at(u, v);
            total += weight;
            weight *= 0.5;
        }
        sum / total
    }
}

/// Convolves every row of a square `n`×`n` image with `kernel` (odd length, centred),
/// replicating the edge pixels.
fn blur_rows(data: &mut [f32], n: usize, kernel: &[f32]) {
    let radius = kernel.len() / 2;
    let mut padded = vec![0.0; n + 2 * radius];
    for row in data.chunks_exact_mut(n) {
        padded[..radius].fill(row[0]);
        padded[radius..radius + n].copy_from_slice(row);
        padded[radius + n..].fill(row[n - 1]);
        for (x, out) in row.iter_mut().enumerate() {
            let window = &padded[x..x + kernel.len()];
            let mut acc = 0.0;
            for k in 0..kernel.len() {
                acc += kernel[k] * window[k];
            }
            *out = acc;
        }
    }
}

fn transpose(data: &mut [f32], n: usize) {
    for y in 0..n {
        for x in y + 1..n {
            data.swap(y * n + x, x * n + y);
        }
    }
}

fn fade(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Hermite step from 0 at `e0` to 1 at `e1` (either order).
pub(super) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    fade(((x - e0) / (e1 - e0)).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_preserves_a_constant() {
        let mut canvas = Canvas::new(16);
        canvas.for_each(|_, _, p| *p = 0.5);
        canvas.blur(0.2);
        assert!(canvas.data().iter().all(|p| (p - 0.5).abs() < 1e-5));
    }

    #[test]
    fn ellipse_covers_its_centre_not_the_corners() {
        let mut canvas = Canvas::new(32);
        let e = Ellipse {
            cu: 0.0,
            cv: 0.0,
            rx: 0.5,
            ry: 0.3,
            angle: 0.3,
            edge: 0.05,
        };
        canvas.add_ellipse(&e, 1.0);
        assert!((canvas.sample(0.0, 0.0) - 1.0).abs() < 1e-5);
        assert_eq!(canvas.sample(-0.95, -0.95), 0.0);
    }

    #[test]
    fn span_covers_pixel_centres_inside_the_range() {
        let canvas = Canvas::new(4); // centres at -0.75, -0.25, 0.25, 0.75
        assert_eq!(canvas.span(-1.0, 1.0), 0..4);
        assert_eq!(canvas.span(-0.3, 0.3), 1..3);
        assert_eq!(canvas.span(0.8, 2.0), 4..4);
        assert_eq!(canvas.span(-5.0, -2.0), 0..0);
    }
}
