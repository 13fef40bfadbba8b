//! Stable Diffusion v1.x U-Net training step on the CPU: forward and backward of the whole
//! `UNet2DConditionModel` (random weights: the time does not depend on their values), one
//! latent of `SIDE`² (32 for 256-px images, 64 for 512 px), batch 1, a 77-token context,
//! ε-MSE against a fixed target. `bench/sd_unet.sh` runs this and its PyTorch twin
//! (`bench/torch/sd_unet_step.py`) in one run and prints the table for docs/benchmarks.md.
//!
//! `cargo bench --profile dev --bench sd_unet_step -- [CONFIG] [SIDE] [STEPS]`
//! (default: the full SD v1-4 config of the parity tests, 32, 3). Prints one JSON line:
//! parameters, the first step (includes allocating the autodiff graph's buffers) and the
//! median of the others, in milliseconds.

use std::path::PathBuf;
use std::time::Instant;

use augflow_stages::sd::{UNet2DCondition, UNetConfig};
use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};

/// Tokens of CLIP's context, as SD pads every prompt.
const TOKENS: usize = 77;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let config = args.next().map_or_else(
        // cargo runs benches in the package folder.
        || PathBuf::from("tests/fixtures/sd/sd-v1-4/unet/config.json"),
        PathBuf::from,
    );
    let side: usize = args.next().map_or(Ok(32), |s| s.parse())?;
    let steps: usize = args.next().map_or(Ok(3), |s| s.parse())?;
    let config = UNetConfig::read(&config)?;
    let device = Device::flex().autodiff();
    let unet = UNet2DCondition::new(&config, &device);
    let params = unet.num_params();
    let latent = [1, config.blocks.in_channels, side, side];
    let x = Tensor::<4>::random(latent, Distribution::Normal(0.0, 1.0), &device);
    let target = Tensor::<4>::random(
        [1, config.blocks.out_channels, side, side],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let context = Tensor::<3>::random(
        [1, TOKENS, config.cross_attention_dim],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let mut times = Vec::with_capacity(steps + 1);
    for _ in 0..=steps {
        let started = Instant::now();
        let predicted = unet.forward(x.clone(), &[500.0], context.clone());
        let loss = (predicted - target.clone()).powi_scalar(2).mean();
        let grads = loss.backward();
        // Reading the loss waits for every queued kernel.
        let _ = loss.into_data();
        drop(grads);
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let first = times[0];
    let mut rest = times[1..].to_vec();
    rest.sort_by(f64::total_cmp);
    let median = rest.get(rest.len() / 2).copied().unwrap_or(first);
    println!(
        "{}",
        serde_json::json!({
            "framework": "burn-flex",
            "side": side,
            "params": params,
            "steps": steps,
            "first_ms": first,
            "median_ms": median,
        })
    );
    Ok(())
}
