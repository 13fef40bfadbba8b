//! A Stable Diffusion v1.x folder in diffusers' layout, as `save_pretrained` writes it
//! and the Hugging Face hub publishes it (`CompVis/stable-diffusion-v1-4`):
//!
//! ```text
//! model_index.json                  (optional; checked when present)
//! tokenizer/     vocab.json, merges.txt, tokenizer_config.json
//! text_encoder/  config.json, model.safetensors
//! vae/           config.json, diffusion_pytorch_model.safetensors
//! unet/          config.json, diffusion_pytorch_model.safetensors
//! scheduler/     scheduler_config.json
//! ```
//!
//! Weight files may be f32 or f16, also under the `.fp16.safetensors` variant name.
//! Everything small is read and checked before any weights: a folder with missing parts,
//! a config of another model family or parts that do not fit together is refused with
//! every problem at once, naming the files.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde_json::Value;

use super::clip::{ClipTextConfig, ClipTextModel};
use super::files::{invalid, read_json_value};
use super::scheduler::SchedulerConfig;
use super::tokenizer::ClipTokenizer;
use super::unet::UNet2DCondition;
use super::unet_config::UNetConfig;
use super::vae::{AutoencoderKl, VaeConfig};
use crate::StageError;

/// The pipeline class diffusers records for SD v1.x (and v2.x, told apart by its U-Net).
const PIPELINE_CLASS: &str = "StableDiffusionPipeline";

/// The paths of a checked folder's files.
#[derive(Debug, Clone)]
pub struct SdFolder {
    pub root: PathBuf,
    pub tokenizer: PathBuf,
    pub text_encoder_config: PathBuf,
    pub text_encoder_weights: PathBuf,
    pub vae_config: PathBuf,
    pub vae_weights: PathBuf,
    pub unet_config: PathBuf,
    pub unet_weights: PathBuf,
    pub scheduler_config: PathBuf,
}

/// Every part of SD v1.x, loaded.
pub struct StableDiffusion {
    pub tokenizer: ClipTokenizer,
    pub text_encoder: ClipTextModel,
    pub vae: AutoencoderKl,
    pub vae_config: VaeConfig,
    pub unet: UNet2DCondition,
    pub unet_config: UNetConfig,
    pub scheduler: SchedulerConfig,
}

/// The configs of a folder, read and checked against each other.
#[derive(Debug, Clone)]
pub struct SdConfigs {
    pub text_encoder: ClipTextConfig,
    pub vae: VaeConfig,
    pub unet: UNetConfig,
    pub scheduler: SchedulerConfig,
}

impl SdFolder {
    /// Finds every file of the layout under `root`; one error lists all that are missing.
    pub fn open(root: &Path) -> Result<Self, StageError> {
        let folder_err = |reason: String| StageError::InvalidModelFolder {
            path: root.to_owned(),
            reason,
        };
        if !root.is_dir() {
            return Err(folder_err("it is not a folder".to_owned()));
        }
        let mut missing: Vec<String> = Vec::new();
        // The first of `names` under `part/` that exists; otherwise noted as missing.
        let mut find = |part: &str, names: &[&str]| -> PathBuf {
            let dir = root.join(part);
            if let Some(path) = names.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
                return path;
            }
            let entry = if dir.is_dir() {
                let weights = names[0].ends_with(".safetensors");
                let hint = if weights { pickle_hint(&dir) } else { "" };
                format!("{part}/{}{hint}", names[0])
            } else {
                format!("{part}/")
            };
            if !missing.contains(&entry) {
                missing.push(entry);
            }
            dir.join(names[0])
        };
        find("tokenizer", &["vocab.json"]);
        find("tokenizer", &["merges.txt"]);
        let folder = Self {
            root: root.to_owned(),
            tokenizer: root.join("tokenizer"),
            text_encoder_config: find("text_encoder", &["config.json"]),
            text_encoder_weights: find(
                "text_encoder",
                &["model.safetensors", "model.fp16.safetensors"],
            ),
            vae_config: find("vae", &["config.json"]),
            vae_weights: find("vae", &WEIGHTS),
            unet_config: find("unet", &["config.json"]),
            unet_weights: find("unet", &WEIGHTS),
            scheduler_config: find("scheduler", &["scheduler_config.json"]),
        };
        if !missing.is_empty() {
            return Err(folder_err(format!(
                "it is not a Stable Diffusion folder in diffusers' layout: missing {}",
                missing.join(", ")
            )));
        }
        Ok(folder)
    }

    /// Reads every config (and `model_index.json` when present) and checks that the
    /// parts fit together: the U-Net's text context is the text encoder's width, its
    /// latents the VAE's.
    pub fn configs(&self) -> Result<SdConfigs, StageError> {
        let index = self.root.join("model_index.json");
        if index.is_file() {
            let json = read_json_value(&index)?;
            match json.get("_class_name").and_then(Value::as_str) {
                Some(PIPELINE_CLASS) => {}
                other => {
                    let class = other.unwrap_or("none");
                    let family = if class.contains("XL") { " (SDXL)" } else { "" };
                    return Err(invalid(
                        &index,
                        format!(
                            "its pipeline class is {class}{family}: only {PIPELINE_CLASS} (SD v1.x) is supported"
                        ),
                    ));
                }
            }
        }
        let configs = SdConfigs {
            unet: UNetConfig::read(&self.unet_config)?,
            text_encoder: ClipTextConfig::read(&self.text_encoder_config)?,
            vae: VaeConfig::read(&self.vae_config)?,
            scheduler: SchedulerConfig::read(&self.scheduler_config)?,
        };
        let mut problems = Vec::new();
        let (unet, text, vae) = (&configs.unet, &configs.text_encoder, &configs.vae);
        if unet.cross_attention_dim != text.hidden_size {
            problems.push(format!(
                "unet/config.json's cross_attention_dim {} is not text_encoder/config.json's hidden_size {}",
                unet.cross_attention_dim, text.hidden_size
            ));
        }
        if unet.blocks.in_channels != vae.latent_channels
            || unet.blocks.out_channels != vae.latent_channels
        {
            problems.push(format!(
                "unet/config.json's in/out_channels {}/{} are not vae/config.json's latent_channels {}",
                unet.blocks.in_channels, unet.blocks.out_channels, vae.latent_channels
            ));
        }
        if problems.is_empty() {
            Ok(configs)
        } else {
            Err(StageError::InvalidModelFolder {
                path: self.root.clone(),
                reason: format!("its parts do not fit together: {}", problems.join("; ")),
            })
        }
    }
}

/// diffusers' weight file names, full precision first.
const WEIGHTS: [&str; 2] = [
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
];

/// A hint when a part ships only PyTorch pickles, which are never loaded (unsafe to
/// unpickle, and not needed: the hub publishes safetensors beside them).
fn pickle_hint(dir: &Path) -> &'static str {
    let pickle = ["pytorch_model.bin", "diffusion_pytorch_model.bin"]
        .iter()
        .any(|name| dir.join(name).is_file());
    if pickle {
        " (only a .bin pickle is there: download or convert to safetensors)"
    } else {
        ""
    }
}

impl StableDiffusion {
    /// Opens `root`, checks its configs, then loads the tokenizer and every weight file
    /// (each checked tensor by tensor).
    pub fn load(root: &Path, device: &Device) -> Result<Self, StageError> {
        let folder = SdFolder::open(root)?;
        let configs = folder.configs()?;
        Ok(Self {
            tokenizer: ClipTokenizer::from_dir(&folder.tokenizer)?,
            text_encoder: ClipTextModel::load(
                &configs.text_encoder,
                &folder.text_encoder_weights,
                device,
            )?,
            vae: AutoencoderKl::load(&configs.vae, &folder.vae_weights, device)?,
            unet: UNet2DCondition::load(&configs.unet, &folder.unet_weights, device)?,
            vae_config: configs.vae,
            unet_config: configs.unet,
            scheduler: configs.scheduler,
        })
    }
}
