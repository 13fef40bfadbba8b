//! Single-op times on Burn's CPU backend (flex) for the upstream note in
//! docs/benchmarks.md: 2-D convolution forward, forward + backward (input and weight
//! gradients) and the weight gradient alone, at the shapes of the quickstart's ResNet-50 (width 0.25, 32 px, batch 16)
//! and of the full-size one at 224 px; and a square matmul. `bench/torch/ops.sh` runs it
//! beside `bench/torch/conv_ops.py`, which times the same ops in PyTorch.
//!
//! `cargo bench -p augflow-stages --profile bench --bench conv_ops`; one JSON line per
//! measurement, the median of `BENCH_REPS` (default 20) timed runs after 3 warm-ups.

use std::env;
use std::time::Instant;

use burn::tensor::module::{conv2d, conv2d_weight_backward};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};

/// (name, batch, in channels, out channels, side, kernel, stride).
const CONVS: &[(&str, usize, usize, usize, usize, usize, usize)] = &[
    ("quick_3x3_16", 16, 16, 16, 16, 3, 1),
    ("quick_1x1_64_16", 16, 64, 16, 16, 1, 1),
    ("quick_3x3_32_s2", 16, 32, 32, 16, 3, 2),
    ("quick_3x3_128", 16, 128, 128, 2, 3, 1),
    ("full_3x3_64", 8, 64, 64, 56, 3, 1),
    ("full_1x1_256_64", 8, 256, 64, 56, 1, 1),
];

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Median seconds of `run` over `reps` runs after 3 warm-ups; `run` ends with a sync.
fn time(reps: usize, mut run: impl FnMut()) -> f64 {
    for _ in 0..3 {
        run();
    }
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                run();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    let reps: usize = env::var("BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let line = |op: &str, name: &str, seconds: f64| {
        println!(
            "{{\"framework\":\"burn\",\"op\":\"{op}\",\"shape\":\"{name}\",\"median_ms\":{:.3}}}",
            seconds * 1e3
        );
    };
    for &(name, n, cin, cout, side, k, stride) in CONVS {
        let options = ConvOptions::new([stride, stride], [k / 2, k / 2], [1, 1], 1);
        let x = Tensor::<4>::random([n, cin, side, side], Distribution::Default, &device);
        let w = Tensor::<4>::random([cout, cin, k, k], Distribution::Default, &device);
        let forward = time(reps, || {
            let y = conv2d(x.clone(), w.clone(), None, options.clone());
            y.into_data();
        });
        line("conv2d_forward", name, forward);
        let xa =
            Tensor::<4>::random([n, cin, side, side], Distribution::Default, &ad).require_grad();
        let wa = Tensor::<4>::random([cout, cin, k, k], Distribution::Default, &ad).require_grad();
        let both = time(reps, || {
            let grads = conv2d(xa.clone(), wa.clone(), None, options.clone())
                .sum()
                .backward();
            let gx = xa.grad(&grads).expect("input gradient");
            let gw = wa.grad(&grads).expect("weight gradient");
            gx.into_data();
            gw.into_data();
        });
        line("conv2d_forward_backward", name, both);
        // The weight gradient alone: Burn computes it as a convolution of the input with
        // the output gradient as the kernel.
        let grad = conv2d(x.clone(), w.clone(), None, options.clone());
        let weight_grad = time(reps, || {
            conv2d_weight_backward(x.clone(), w.clone(), grad.clone(), options.clone()).into_data();
        });
        line("conv2d_weight_grad", name, weight_grad);
    }
    let a = Tensor::<2>::random([512, 512], Distribution::Default, &device);
    let b = Tensor::<2>::random([512, 512], Distribution::Default, &device);
    line(
        "matmul",
        "512x512x512",
        time(reps, || {
            a.clone().matmul(b.clone()).into_data();
        }),
    );
}
