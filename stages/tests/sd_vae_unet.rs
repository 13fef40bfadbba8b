//! AutoencoderKL and UNet2DConditionModel against diffusers, and SD v1-4's full-size VAE
//! and U-Net checked tensor by tensor; SD v2.x and SDXL U-Net configs refused.
//!
//! `bench/reference/sd_reference.py` (diffusers 0.42.1, torch 2.15.0) built both at the
//! tiny configs in `fixtures/sd/{vae,unet}/config.json` (the U-Net: three levels, two
//! cross-attention ones, two layers per block, as SD v1's shape), filled every tensor
//! with its formula and recorded float64 outputs: the VAE's latent mean and log-variance
//! for two 16×16 images and the decoding of the means; the U-Net's noise prediction for
//! three 8×8 latents at timesteps 1, 500 and 981 with a 7-token context. diffusers' own
//! f32 runs are within 1.3e-6 of those.

mod parity_support;
mod sd_support;

use augflow_stages::sd::weights::{published_tensors, torch_tensors};
use augflow_stages::sd::{AutoencoderKl, UNet2DCondition, UNetConfig, VaeConfig, unet, vae};
use burn::tensor::Device;
use sd_support::{
    check_batch, fixture, formula_tensor, json, tensor_list, write_changed_config,
    write_checked_fill,
};

/// diffusers' file name for a part's weights.
const WEIGHTS: &str = "diffusion_pytorch_model.safetensors";

#[test]
fn vae_encode_and_decode_match_diffusers() {
    let config = VaeConfig::read(&fixture("vae/config.json")).unwrap();
    let device = Device::flex();
    let reference = json("vae.json");
    let names = published_tensors(&AutoencoderKl::new(&config, &device), &vae::NAMING);
    let (_dir, path) = write_checked_fill(&names, "", WEIGHTS, &reference);
    let model = AutoencoderKl::load(&config, &path, &device).unwrap();
    let (mean, logvar) = model.encode(formula_tensor("images", [2, 3, 16, 16]));
    check_batch("latent mean", mean.clone(), &reference["mean"]);
    check_batch("latent log-variance", logvar, &reference["logvar"]);
    check_batch("decoded", model.decode(mean), &reference["decoded"]);
}

#[test]
fn unet_noise_prediction_matches_diffusers_at_three_timesteps() {
    let config = UNetConfig::read(&fixture("unet/config.json")).unwrap();
    let device = Device::flex();
    let reference = json("unet.json");
    let names = published_tensors(&UNet2DCondition::new(&config, &device), &unet::NAMING);
    let (_dir, path) = write_checked_fill(&names, "", WEIGHTS, &reference);
    let model = UNet2DCondition::load(&config, &path, &device).unwrap();
    let timesteps: Vec<f32> = reference["timesteps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap() as f32)
        .collect();
    let noise = model.forward(
        formula_tensor("latents", [3, 4, 8, 8]),
        &timesteps,
        formula_tensor("context", [3, 7, 12]),
    );
    check_batch("noise prediction", noise, &reference["noise"]);
}

#[test]
fn sd_v1_4_vae_and_unet_have_every_published_tensor() {
    let device = Device::flex();
    let config = VaeConfig::read(&fixture("sd-v1-4/vae/config.json")).unwrap();
    assert_eq!(config.scaling_factor, 0.18215);
    let ours = published_tensors(&AutoencoderKl::new(&config, &device), &vae::NAMING);
    assert_eq!(ours, tensor_list("sd-v1-4/vae.tensors"));
    let config = UNetConfig::read(&fixture("sd-v1-4/unet/config.json")).unwrap();
    let unet = UNet2DCondition::new(&config, &device);
    let ours = published_tensors(&unet, &unet::NAMING);
    assert_eq!(ours.len(), 686);
    assert_eq!(ours, tensor_list("sd-v1-4/unet.tensors"));
    // 859.5 M parameters, SD v1's published U-Net size; nothing was allocated.
    let params: usize = torch_tensors(&unet)
        .values()
        .map(|s| s.iter().product::<usize>())
        .sum();
    assert_eq!(params, 859_520_964);
}

#[test]
fn sd_v2_and_sdxl_unet_configs_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let base = json("sd-v1-4/unet/config.json");
    let cases = [
        (
            // stabilityai/stable-diffusion-2-1's U-Net.
            serde_json::json!({"attention_head_dim": [5, 10, 20, 20], "cross_attention_dim": 1024,
                "use_linear_projection": true, "upcast_attention": true}),
            &["SD v2.x", "upcast_attention true is not supported"][..],
        ),
        (
            // stabilityai/stable-diffusion-xl-base-1.0's U-Net.
            serde_json::json!({"addition_embed_type": "text_time", "cross_attention_dim": 2048,
                "transformer_layers_per_block": [1, 2, 10], "attention_head_dim": [5, 10, 20]}),
            &["SDXL"],
        ),
    ];
    for (changes, expected) in cases {
        write_changed_config(&path, &base, &changes);
        let err = UNetConfig::read(&path).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
        for part in expected {
            assert!(err.contains(part), "{part}: {err}");
        }
    }
    // SD v1-4's own null and `false` options pass: only the changed one is named.
    let changes = serde_json::json!({"class_embed_type": "timestep", "encoder_hid_dim": null,
        "num_attention_heads": null, "time_cond_proj_dim": null, "only_cross_attention": false,
        "dual_cross_attention": false, "upcast_attention": false});
    write_changed_config(&path, &base, &changes);
    let err = UNetConfig::read(&path).unwrap_err().to_string();
    assert!(
        err.contains("class_embed_type \"timestep\" is not supported"),
        "{err}"
    );
    assert_eq!(err.matches("is not supported").count(), 1, "{err}");
}

#[test]
fn a_vae_with_attention_blocks_is_refused_naming_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let base = json("sd-v1-4/vae/config.json");
    let mut down = base["down_block_types"].clone();
    down[1] = "AttnDownEncoderBlock2D".into();
    let mut up = base["up_block_types"].clone();
    up[2] = "AttnUpDecoderBlock2D".into();
    for (changes, expected) in [
        (
            serde_json::json!({ "down_block_types": down }),
            "down block \"AttnDownEncoderBlock2D\" (only DownEncoderBlock2D)",
        ),
        (
            serde_json::json!({ "up_block_types": up }),
            "up block \"AttnUpDecoderBlock2D\" (only UpDecoderBlock2D)",
        ),
    ] {
        write_changed_config(&path, &base, &changes);
        let err = VaeConfig::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains(expected),
            "{expected}: {err}"
        );
    }
}
