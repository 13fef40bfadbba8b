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

/// One convolution shape; `bench/torch/conv_shapes.json` lists them for this benchmark and
/// for PyTorch's.
#[derive(serde::Deserialize)]
struct ConvShape {
    name: String,
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    side: usize,
    kernel: usize,
    stride: usize,
}

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
    let shapes: Vec<ConvShape> =
        serde_json::from_str(include_str!("../../bench/torch/conv_shapes.json"))
            .expect("bench/torch/conv_shapes.json lists conv shapes");
    for shape in &shapes {
        let &ConvShape {
            ref name,
            batch: n,
            in_channels: cin,
            out_channels: cout,
            side,
            kernel: k,
            stride,
        } = shape;
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
