//! A Stable Diffusion folder in diffusers' layout: a complete tiny one loads; a folder
//! with a part missing, an SD v2.x or SDXL config, parts that do not fit or a truncated
//! weight file is refused with an error naming the file and the problem, never a panic.

mod parity_support;
mod sd_support;

use std::fs;
use std::path::Path;

use augflow_stages::sd::weights::{published_tensors, torch_tensors};
use augflow_stages::sd::{
    AutoencoderKl, ClipTextConfig, ClipTextModel, StableDiffusion, UNet2DCondition, UNetConfig,
    VaeConfig, unet, vae,
};
use burn::tensor::Device;
use parity_support::assert_mentions;
use sd_support::{fixture, read_json, write_changed_config, write_filled};
use serde_json::json;

const UNET_WEIGHTS: &str = "unet/diffusion_pytorch_model.safetensors";

/// The parity tests' tiny parts as one folder; the U-Net's context widened to the text
/// encoder's 32 so that the parts fit together.
fn write_tiny_folder(root: &Path) {
    let device = Device::flex();
    for part in ["tokenizer", "text_encoder", "vae", "unet", "scheduler"] {
        fs::create_dir_all(root.join(part)).unwrap();
    }
    for name in ["vocab.json", "merges.txt", "tokenizer_config.json"] {
        fs::copy(
            fixture(&format!("tokenizer/{name}")),
            root.join("tokenizer").join(name),
        )
        .unwrap();
    }
    fs::copy(
        fixture("sd-v1-4/scheduler/scheduler_config.json"),
        root.join("scheduler/scheduler_config.json"),
    )
    .unwrap();
    let index = json!({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1"});
    fs::write(root.join("model_index.json"), index.to_string()).unwrap();

    fs::copy(
        fixture("text_encoder/config.json"),
        root.join("text_encoder/config.json"),
    )
    .unwrap();
    let text = ClipTextConfig::read(&fixture("text_encoder/config.json")).unwrap();
    let names = torch_tensors(&ClipTextModel::new(&text, &device));
    write_filled(
        &names,
        "text_model.",
        &root.join("text_encoder/model.safetensors"),
    );

    fs::copy(fixture("vae/config.json"), root.join("vae/config.json")).unwrap();
    let config = VaeConfig::read(&fixture("vae/config.json")).unwrap();
    let names = published_tensors(&AutoencoderKl::new(&config, &device), &vae::NAMING);
    write_filled(
        &names,
        "",
        &root.join("vae/diffusion_pytorch_model.safetensors"),
    );

    write_changed_config(
        &root.join("unet/config.json"),
        &read_json(&fixture("unet/config.json")),
        &json!({"cross_attention_dim": text.hidden_size}),
    );
    let config = UNetConfig::read(&root.join("unet/config.json")).unwrap();
    let names = published_tensors(&UNet2DCondition::new(&config, &device), &unet::NAMING);
    write_filled(&names, "", &root.join(UNET_WEIGHTS));
}

/// The error of loading `root`, which must fail.
fn load_error(root: &Path) -> String {
    match StableDiffusion::load(root, &Device::flex()) {
        Ok(_) => panic!("{} loaded", root.display()),
        Err(err) => {
            eprintln!("{err}");
            err.to_string()
        }
    }
}

/// A temp dir holding [`write_tiny_folder`]'s folder.
fn tiny_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_folder(dir.path());
    dir
}

#[test]
fn a_complete_tiny_folder_loads() {
    let dir = tiny_folder();
    let sd = match StableDiffusion::load(dir.path(), &Device::flex()) {
        Ok(sd) => sd,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(sd.unet_config.cross_attention_dim, 32);
    assert_eq!(sd.vae_config.scaling_factor, 0.18215);
    assert_eq!(sd.tokenizer.max_length(), 77);
}

#[test]
fn a_folder_without_unet_names_what_is_missing() {
    let dir = tiny_folder();
    fs::remove_dir_all(dir.path().join("unet")).unwrap();
    fs::remove_file(dir.path().join("tokenizer/merges.txt")).unwrap();
    let message = load_error(dir.path());
    let root = dir.path().display().to_string();
    assert_mentions(
        &message,
        &[
            &root,
            "diffusers' layout",
            "missing tokenizer/merges.txt, unet/",
        ],
    );

    // Pickles only: said so, and never unpickled.
    fs::create_dir(dir.path().join("unet")).unwrap();
    fs::write(
        dir.path().join("unet/diffusion_pytorch_model.bin"),
        b"pickle",
    )
    .unwrap();
    let message = load_error(dir.path());
    assert_mentions(
        &message,
        &["unet/diffusion_pytorch_model.safetensors (only a .bin pickle"],
    );
}

#[test]
fn sd_v2_and_sdxl_folders_are_refused_naming_the_config() {
    let dir = tiny_folder();
    let config_path = dir.path().join("unet/config.json");
    let v1 = read_json(&config_path);
    let cases = [
        (
            json!({"attention_head_dim": [2, 4, 4], "use_linear_projection": true}),
            "SD v2.x",
        ),
        (
            json!({"addition_embed_type": "text_time", "transformer_layers_per_block": [1, 2, 10]}),
            "SDXL",
        ),
    ];
    for (changes, family) in cases {
        write_changed_config(&config_path, &v1, &changes);
        let message = load_error(dir.path());
        assert_mentions(&message, &[&config_path.display().to_string(), family]);
    }
    fs::write(&config_path, v1.to_string()).unwrap();

    let index = dir.path().join("model_index.json");
    fs::write(&index, r#"{"_class_name": "StableDiffusionXLPipeline"}"#).unwrap();
    let message = load_error(dir.path());
    assert_mentions(
        &message,
        &[
            &index.display().to_string(),
            "StableDiffusionXLPipeline (SDXL)",
        ],
    );
}

#[test]
fn parts_that_do_not_fit_together_are_named() {
    let dir = tiny_folder();
    let config_path = dir.path().join("unet/config.json");
    let config = read_json(&config_path);
    write_changed_config(&config_path, &config, &json!({"cross_attention_dim": 12}));
    let message = load_error(dir.path());
    assert_mentions(
        &message,
        &["cross_attention_dim 12", "hidden_size 32", "do not fit"],
    );
}

#[test]
fn a_truncated_weight_file_names_the_file_wherever_it_is_cut() {
    let dir = tiny_folder();
    let path = dir.path().join(UNET_WEIGHTS);
    let bytes = fs::read(&path).unwrap();
    for cut in [0, 5, 100, bytes.len() / 2, bytes.len() - 1] {
        fs::write(&path, &bytes[..cut]).unwrap();
        let message = load_error(dir.path());
        assert_mentions(&message, &[&path.display().to_string(), "truncated"]);
    }
}
