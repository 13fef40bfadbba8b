//! The committed tiny SD folder (`pipelines/assets/sd-tiny/`, written by
//! `bench/reference/sd_tiny_folder.py` with diffusers' `save_pretrained`) loads, and one
//! 16×16 image sampled from it with DDIM and classifier-free guidance equals the image
//! diffusers' own `StableDiffusionPipeline` samples from the same folder and latents
//! (its float64 run; its float32 run is within 2.4e-6 of it).

mod parity_support;
mod sd_support;

use std::path::Path;

use augflow_stages::sd::StableDiffusion;
use burn::tensor::Device;
use sd_support::{check_batch, formula_tensor, json};

const FOLDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/assets/sd-tiny");

#[test]
fn sd_tiny_samples_the_image_diffusers_samples() {
    let sd = match StableDiffusion::load(Path::new(FOLDER), &Device::flex()) {
        Ok(sd) => sd,
        Err(err) => panic!("{err}"),
    };
    let reference = json("sd_tiny_sample.json");
    let size = reference["size"].as_u64().unwrap() as usize;
    let prompt = reference["prompt"].as_str().unwrap();
    let steps = reference["steps"].as_u64().unwrap() as usize;
    let guidance = reference["guidance_scale"].as_f64().unwrap();
    let latents = formula_tensor("sd-tiny latents", [1, 4, size / 2, size / 2]);
    let image = sd.sample_ddim(&[prompt], latents, steps, guidance);
    assert_eq!(image.dims(), [1, 3, size, size]);
    check_batch(
        "sd-tiny image",
        image,
        &serde_json::json!([reference["image"]]),
    );
}
