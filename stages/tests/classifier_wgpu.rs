//! One training step on wgpu (in CI: Mesa's lavapipe), checked against the CPU backend.
//! Its own test binary: wgpu's first use compiles kernels for tens of seconds, and the
//! Vulkan loader must not be initialised from several test threads at once.

use augflow_stages::StageError;
use augflow_stages::backend::{BackendChoice, select_device, wgpu_adapters};
use augflow_stages::classifiers::{Architecture, Classifier, ModelSpec};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

fn spec() -> ModelSpec {
    ModelSpec {
        width: 0.25,
        depth: 0.3,
        in_channels: 1,
        num_classes: 3,
        ..ModelSpec::published(Architecture::ResNet50)
    }
}

fn input(device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..2 * 32 * 32)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [2, 1, 32, 32]), device)
}

/// Loss of one forward pass and the first logits after one Adam step.
fn step(device: &Device) -> (f32, Vec<f32>) {
    let ad = device.clone().autodiff();
    let model = Classifier::new(&spec(), &ad).unwrap().init_seeded(4);
    let loss = model.forward(input(&ad)).powi_scalar(2).mean();
    let loss_value = loss.clone().try_into_scalar::<f32>().unwrap();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = AdamConfig::new().init().step(1e-2, model, grads);
    let after = model
        .valid()
        .forward(input(device))
        .try_into_vec_as::<f32>()
        .unwrap();
    (loss_value, after)
}

#[test]
fn forward_and_backward_on_wgpu_match_the_cpu() {
    let device = match select_device(BackendChoice::Wgpu) {
        Ok(device) => device,
        Err(StageError::NoWgpuAdapter) => {
            eprintln!("SKIPPED: no wgpu adapter on this machine (install mesa-vulkan-drivers)");
            return;
        }
        Err(err) => panic!("{err}"),
    };
    assert!(device.name.starts_with("wgpu:"), "{}", device.name);
    assert!(!wgpu_adapters().is_empty());
    let (gpu_loss, gpu_after) = step(&device.device);
    let (cpu_loss, cpu_after) = step(&Device::flex());
    assert!(gpu_loss.is_finite());
    // Same host-generated initial weights on both; kernels differ in summation order.
    assert!(
        (gpu_loss - cpu_loss).abs() <= 1e-3 * cpu_loss.abs().max(1.0),
        "wgpu loss {gpu_loss} vs cpu {cpu_loss}"
    );
    for (g, c) in gpu_after.iter().zip(&cpu_after) {
        assert!(
            (g - c).abs() <= 1e-2 * c.abs().max(1.0),
            "{gpu_after:?} vs {cpu_after:?}"
        );
    }
}
