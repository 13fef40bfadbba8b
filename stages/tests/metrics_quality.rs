//! Image-quality metrics: properties that must hold, closed forms, and reference values
//! from the Python libraries that papers use.
//!
//! Reference values were printed once by
//!     ~/.cache/augflow-bench/torch-venv/bin/python bench/reference/quality_reference.py
//! with python 3.11.7, numpy 2.4.6, scipy 1.17.1, torch 2.15.0, pytorch-msssim 1.0.0,
//! torch-fidelity 0.4.0, pytorch-fid 0.3.0 (all in float64 on the CPU). The script builds
//! its inputs with the formulas of `Lcg`, `pattern` and `features` below: change one side
//! only and the references stop applying.

use augflow_stages::metrics::quality::{
    DEFAULT_NEAREST_K, FeatureStats, GrayImage, KidConfig, frechet_distance,
    frechet_distance_from_stats, kid, mean_pairwise_ms_ssim, mmd2_unbiased, ms_ssim, prdc, ssim,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Numerical Recipes' 32-bit LCG; values in [-0.5, 0.5). Same in the Python script.
struct Lcg(u32);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(1664525).wrapping_add(1013904223);
        f64::from(self.0 >> 8) / 16_777_216.0 - 0.5
    }
}

/// Crossed sines plus LCG noise, clamped to [0, 1]; `pattern` in the Python script.
fn pattern(
    width: usize,
    height: usize,
    fx: f64,
    fy: f64,
    phase: f64,
    noise: f64,
    seed: u32,
) -> GrayImage {
    let mut lcg = Lcg(seed);
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let (x, y) = (x as f64, y as f64);
            let v = 0.5
                + 0.3 * (fx * x + phase).sin() * (fy * y).cos()
                + 0.1 * (0.013 * x * y).sin()
                + noise * lcg.next();
            pixels.push(v.clamp(0.0, 1.0) as f32);
        }
    }
    GrayImage::new(width, height, pixels).unwrap()
}

/// Sines plus LCG noise, scaled and shifted per set; `features` in the Python script.
fn features(rows: usize, dims: usize, scale: f64, shift: f64, seed: u32) -> Vec<Vec<f32>> {
    let mut lcg = Lcg(seed);
    (0..rows)
        .map(|i| {
            (0..dims)
                .map(|j| {
                    let (i, j) = (i as f64, j as f64);
                    let v = scale * ((0.9 * i + 1.7 * j).sin() + 0.8 * lcg.next())
                        + 0.5 * (0.23 * i * j).cos()
                        + shift;
                    v as f32
                })
                .collect()
        })
        .collect()
}

/// `rows` samples of N(mean, diag(std²)), by Box–Muller.
fn gaussian(rows: usize, mean: &[f64], std: &[f64], rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
    (0..rows)
        .map(|_| {
            (mean.iter().zip(std))
                .map(|(m, s)| (m + s * standard_normal(rng)) as f32)
                .collect()
        })
        .collect()
}

fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln stays finite
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn inverted(image: &GrayImage) -> GrayImage {
    let pixels = image.pixels().iter().map(|p| 1.0 - p).collect();
    GrayImage::new(image.width(), image.height(), pixels).unwrap()
}

// ---- FID ----

#[test]
fn fid_of_a_set_with_itself_is_zero() {
    let a = features(200, 8, 1.0, 0.0, 1);
    let trace: f64 = FeatureStats::from_features(&a)
        .unwrap()
        .covariance()
        .iter()
        .step_by(9)
        .sum();
    let fid = frechet_distance(&a, &a).unwrap();
    // Rounding in two 8×8 eigendecompositions: ~1e-15 of the trace; 1e-9 is far above
    // that and far below any real distance.
    assert!(fid.abs() < 1e-9 * trace, "{fid} (trace {trace})");
}

#[test]
fn fid_grows_with_added_noise() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let base = gaussian(500, &[0.0; 6], &[1.0; 6], &mut rng);
    let noise = gaussian(500, &[0.0; 6], &[1.0; 6], &mut rng);
    // The same noise draw, scaled: each step adds variance, so FID must rise strictly.
    let fids: Vec<f64> = [0.0, 0.1, 0.3, 1.0, 3.0]
        .iter()
        .map(|&std| {
            let noisy: Vec<Vec<f32>> = (base.iter().zip(&noise))
                .map(|(b, n)| b.iter().zip(n).map(|(b, n)| b + std * n).collect())
                .collect();
            frechet_distance(&base, &noisy).unwrap()
        })
        .collect();
    assert!(fids[0].abs() < 1e-9, "{fids:?}");
    assert!(fids.windows(2).all(|w| w[0] < w[1]), "{fids:?}");
}

#[test]
fn fid_from_statistics_matches_closed_forms() {
    let diagonal = |mean: &[f64], std: &[f64]| {
        let d = mean.len();
        let mut cov = vec![0.0; d * d];
        for (i, s) in std.iter().enumerate() {
            cov[i * d + i] = s * s;
        }
        FeatureStats::new(mean.to_vec(), cov).unwrap()
    };
    // Diagonal covariances: ‖μ₁ − μ₂‖² + Σ (σ₁ − σ₂)² = 2.25 + 1.25.
    let a = diagonal(&[0.0, 0.0, 0.0], &[1.0, 2.0, 0.5]);
    let b = diagonal(&[1.0, -1.0, 0.5], &[1.5, 1.0, 0.5]);
    let fid = frechet_distance_from_stats(&a, &b).unwrap();
    assert!((fid - 3.5).abs() < 1e-12, "{fid}");

    // A full covariance S against c²·S: tr(S + c²S − 2cS) = (1 − c)² tr S, plus ‖Δμ‖².
    let s = [4.0, 1.0, 0.5, 1.0, 3.0, -0.7, 0.5, -0.7, 2.0];
    let c: f64 = 1.7;
    let a = FeatureStats::new(vec![0.0; 3], s.to_vec()).unwrap();
    let b = FeatureStats::new(vec![0.0, 1.0, 2.0], s.iter().map(|v| c * c * v).collect()).unwrap();
    let fid = frechet_distance_from_stats(&a, &b).unwrap();
    let expected = 5.0 + (1.0 - c).powi(2) * 9.0;
    assert!(
        (fid - expected).abs() < 1e-12 * expected,
        "{fid} vs {expected}"
    );
}

#[test]
fn fid_of_gaussian_samples_is_near_the_closed_form() {
    // Closed form 2.25 + 1.25 = 3.5 (see above). Over 200 numpy seeds at n = 20,000 the
    // sample FID had mean 3.498 and standard deviation 0.048 (its bias, ~d/n, is far
    // smaller): 0.3 is six standard deviations.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let a = gaussian(20_000, &[0.0, 0.0, 0.0], &[1.0, 2.0, 0.5], &mut rng);
    let b = gaussian(20_000, &[1.0, -1.0, 0.5], &[1.5, 1.0, 0.5], &mut rng);
    let fid = frechet_distance(&a, &b).unwrap();
    assert!((fid - 3.5).abs() < 0.3, "{fid}");
}

#[test]
fn fid_matches_pytorch_fid() {
    // pytorch-fid: np.cov + scipy.linalg.sqrtm (Schur) on the same float32 features, in
    // float64; we take two symmetric eigendecompositions. For this well-conditioned 6×6
    // case the two agree to rounding (~1e-14); 1e-9 relative leaves room for other BLAS.
    let fid = frechet_distance(
        &features(40, 6, 1.0, 0.0, 11),
        &features(32, 6, 1.5, 0.3, 12),
    )
    .unwrap();
    let reference = 1.5588506111212173;
    assert!((fid - reference).abs() < 1e-9 * reference, "{fid}");
}

// ---- KID ----

#[test]
fn unbiased_mmd2_averages_zero_for_equal_distributions() {
    // 400 pairs of independent samples (30 each, 4-D) of one Gaussian: the estimator is
    // unbiased, so its mean lies within a few standard errors of 0 and single estimates
    // fall on both sides. The same for shifted Gaussians sits far above 0.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (mut same, mut shifted) = (Vec::new(), Vec::new());
    for _ in 0..400 {
        let a = gaussian(30, &[0.0; 4], &[1.0; 4], &mut rng);
        let b = gaussian(30, &[0.0; 4], &[1.0; 4], &mut rng);
        let c = gaussian(30, &[1.0; 4], &[1.0; 4], &mut rng);
        same.push(mmd2_unbiased(&a, &b).unwrap());
        shifted.push(mmd2_unbiased(&a, &c).unwrap());
    }
    let (mean, standard_error) = mean_and_standard_error(&same);
    assert!(
        mean.abs() < 4.0 * standard_error,
        "{mean} ± {standard_error}"
    );
    let negatives = same.iter().filter(|&&m| m < 0.0).count();
    assert!(
        (100..300).contains(&negatives),
        "{negatives} of 400 below zero"
    );
    let (shifted_mean, shifted_error) = mean_and_standard_error(&shifted);
    assert!(
        shifted_mean > 20.0 * shifted_error,
        "{shifted_mean} ± {shifted_error}"
    );
    assert!(
        shifted_mean > 10.0 * standard_error,
        "{shifted_mean} vs {standard_error}"
    );
}

fn mean_and_standard_error(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (variance / n).sqrt())
}

#[test]
fn kid_matches_torch_fidelity() {
    // torch-fidelity's `kid_features_to_metric` with subsets of the full size (48): each
    // subset is the whole set reordered, so its numpy draws do not matter; mean = MMD²
    // and std = 0. Both sides sum the same kernel values in float64 in different orders
    // (~1e-16 relative); 1e-9 leaves room for other BLAS.
    let a = features(48, 10, 1.0, 0.0, 21);
    let b = features(48, 10, 1.2, 0.2, 22);
    let reference = 0.09426540690080554;
    let config = KidConfig {
        subsets: 3,
        subset_size: 48,
        seed: 5,
    };
    let full = kid(&a, &b, &config).unwrap();
    assert!((full.mean - reference).abs() < 1e-9 * reference, "{full:?}");
    assert!(full.std < 1e-12, "{full:?}");
    let mmd = mmd2_unbiased(&a, &b).unwrap();
    assert!(
        (mmd - 0.09426540690080643).abs() < 1e-9 * reference,
        "{mmd}"
    );

    // A subset size above the sets' is capped (torch-fidelity refuses).
    let capped = kid(
        &a,
        &b,
        &KidConfig {
            subset_size: 1000,
            ..config.clone()
        },
    )
    .unwrap();
    assert_eq!(capped.subset_size, 48);
    assert!((capped.mean - full.mean).abs() < 1e-12);
}

#[test]
fn kid_subsets_follow_the_seed() {
    let a = features(48, 10, 1.0, 0.0, 21);
    let b = features(48, 10, 1.2, 0.2, 22);
    let config = |seed| KidConfig {
        subsets: 10,
        subset_size: 20,
        seed,
    };
    let first = kid(&a, &b, &config(1)).unwrap();
    assert_eq!(first, kid(&a, &b, &config(1)).unwrap());
    let other = kid(&a, &b, &config(2)).unwrap();
    assert_ne!(first.mean, other.mean);
    // Real subsets of 20 out of 48 scatter.
    assert!(first.std > 0.0 && first.subset_size == 20, "{first:?}");
}

// ---- PRDC ----

#[test]
fn prdc_of_a_set_with_itself_is_one() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let real = gaussian(200, &[0.0; 4], &[1.0; 4], &mut rng);
    let m = prdc(&real, &real, DEFAULT_NEAREST_K).unwrap();
    assert_eq!(
        (m.precision, m.recall, m.coverage),
        (1.0, 1.0, 1.0),
        "{m:?}"
    );
    // Each real ball strictly holds its centre and the k − 1 nearer neighbours (the k-th
    // sits on the edge): k per ball, / k. Exact without tied distances.
    assert!((m.density - 1.0).abs() < 1e-12, "{m:?}");
}

#[test]
fn prdc_of_far_apart_sets_is_zero() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let real = gaussian(100, &[0.0; 4], &[1.0; 4], &mut rng);
    let generated = gaussian(80, &[1000.0; 4], &[1.0; 4], &mut rng);
    let m = prdc(&real, &generated, DEFAULT_NEAREST_K).unwrap();
    assert_eq!(
        (m.precision, m.recall, m.density, m.coverage),
        (0.0, 0.0, 0.0, 0.0),
        "{m:?}"
    );
}

#[test]
fn prdc_precision_counts_generated_samples_in_real_balls() {
    // Half the generated samples copy real ones (distance 0, inside), half lie far away.
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let real = gaussian(100, &[0.0; 4], &[1.0; 4], &mut rng);
    let mut generated: Vec<Vec<f32>> = real[..40].to_vec();
    generated.extend(gaussian(40, &[1000.0; 4], &[1.0; 4], &mut rng));
    let m = prdc(&real, &generated, DEFAULT_NEAREST_K).unwrap();
    assert_eq!(m.precision, 0.5, "{m:?}");
}

// ---- SSIM / MS-SSIM ----

/// Reference pairs: 192 (even at every scale), 200x168 and 161x175 (odd sides at some
/// scales, so pytorch_msssim's padded pooling shows), all with five scales.
fn similar() -> (GrayImage, GrayImage) {
    (
        pattern(192, 192, 0.11, 0.07, 0.0, 0.2, 1),
        pattern(192, 192, 0.11, 0.07, 0.0, 0.2, 2),
    )
}

/// Reference tolerance. Inputs are bit-identical f32 on both sides and both compute in
/// f64; summation orders differ (~1e-14). A libm whose sin is one ulp off elsewhere can
/// move a pixel by one f32 ulp (6e-8), which moves a mean over ≥ 10⁴ window positions by
/// far less than 1e-9.
const MS_SSIM_TOLERANCE: f64 = 1e-9;

#[test]
fn ms_ssim_matches_pytorch_msssim() {
    let (a, b) = similar();
    let cases = [
        (a, b, 0.9310503369083132),
        (
            pattern(200, 168, 0.11, 0.07, 0.0, 0.1, 3),
            pattern(200, 168, 0.05, 0.13, 1.0, 0.1, 4),
            0.09271032630499011,
        ),
        (
            pattern(161, 175, 0.2, 0.03, 0.5, 0.3, 5),
            pattern(161, 175, 0.2, 0.03, 0.8, 0.3, 5),
            0.9574419581030257,
        ),
    ];
    for (a, b, reference) in &cases {
        let m = ms_ssim(a, b).unwrap();
        assert_eq!(m.scales, 5);
        assert!(
            (m.value - reference).abs() < MS_SSIM_TOLERANCE,
            "{m:?} vs {reference}"
        );
    }
}

#[test]
fn ssim_matches_pytorch_msssim_and_inverted_images_clamp_to_zero() {
    let (a, b) = similar();
    let value = ssim(&a, &b).unwrap();
    assert!(
        (value - 0.6409352139021727).abs() < MS_SSIM_TOLERANCE,
        "{value}"
    );
    // An inverted image: negative structure at every scale, clamped → MS-SSIM 0 (so does
    // pytorch_msssim), while plain SSIM stays negative.
    let inverse = inverted(&a);
    let value = ssim(&a, &inverse).unwrap();
    assert!(
        (value - -0.7610585048099046).abs() < MS_SSIM_TOLERANCE,
        "{value}"
    );
    assert_eq!(ms_ssim(&a, &inverse).unwrap().value, 0.0);
}

#[test]
fn small_images_use_fewer_scales_like_pytorch_msssim_with_renormalised_weights() {
    // pytorch_msssim given the first three weights scaled to sum to 1 (run with its
    // size assert off; see the script).
    let a = pattern(64, 64, 0.3, 0.2, 0.0, 0.2, 6);
    let b = pattern(64, 64, 0.3, 0.2, 0.4, 0.2, 7);
    let m = ms_ssim(&a, &b).unwrap();
    assert_eq!(m.scales, 3);
    assert!(
        (m.value - 0.8797912740178446).abs() < MS_SSIM_TOLERANCE,
        "{m:?}"
    );
}

#[test]
fn ms_ssim_is_one_for_identical_images_and_symmetric() {
    let (a, b) = similar();
    let small = pattern(64, 64, 0.3, 0.2, 0.0, 0.2, 6);
    for image in [&a, &small] {
        let m = ms_ssim(image, image).unwrap();
        assert!((m.value - 1.0).abs() < 1e-9, "{m:?}");
        assert!((ssim(image, image).unwrap() - 1.0).abs() < 1e-9);
    }
    let (ab, ba) = (ms_ssim(&a, &b).unwrap(), ms_ssim(&b, &a).unwrap());
    assert!((ab.value - ba.value).abs() < 1e-15, "{ab:?} vs {ba:?}");
    assert!(
        ab.value < 0.99,
        "different images must score below 1: {ab:?}"
    );
}

#[test]
fn pairwise_ms_ssim_separates_collapsed_from_diverse_sets() {
    let image = |phase: f64, seed: u32| pattern(48, 48, 0.3, 0.2, phase, 0.1, seed);
    let collapsed = vec![image(0.0, 1); 5];
    let diverse: Vec<GrayImage> = (0..5).map(|i| image(f64::from(i) * 0.9, i + 1)).collect();

    let m = mean_pairwise_ms_ssim(&collapsed, 100, 0).unwrap();
    assert_eq!((m.pairs, m.scales), (10, 3));
    assert!((m.mean - 1.0).abs() < 1e-9, "{m:?}");

    // All 10 pairs: exactly the mean of the pairwise values.
    let all = mean_pairwise_ms_ssim(&diverse, 100, 0).unwrap();
    let mut sum = 0.0;
    for i in 0..5 {
        for j in i + 1..5 {
            sum += ms_ssim(&diverse[i], &diverse[j]).unwrap().value;
        }
    }
    assert!((all.mean - sum / 10.0).abs() < 1e-12, "{all:?}");
    assert!(all.mean < 0.9, "{all:?}");

    // Fewer pairs than exist: a seeded draw of distinct pairs.
    let some = mean_pairwise_ms_ssim(&diverse, 4, 1).unwrap();
    assert_eq!(some.pairs, 4);
    assert_eq!(some, mean_pairwise_ms_ssim(&diverse, 4, 1).unwrap());
    let seeds: Vec<f64> = (0..5)
        .map(|seed| mean_pairwise_ms_ssim(&diverse, 4, seed).unwrap().mean)
        .collect();
    assert!(
        seeds.iter().any(|&m| m != seeds[0]),
        "the seed must pick the pairs: {seeds:?}"
    );
}
