//! `import.stable_diffusion`: a diffusers SD v1.x folder → an SD generator artifact.

use std::fs;
use std::path::{Path, PathBuf};

use super::{ImportSdConfig, SD_DIR, SdMethod, SdSpec};
use crate::StageError;
use crate::backend::SelectedDevice;
use crate::data::out_dir::{create_dir_all, start_stage};
use crate::generators::artifact::{GeneratorFile, GeneratorSpec};
use crate::sd::{SdConfigs, SdFolder, StableDiffusion};

/// Small files of the layout that are copied when present (diffusers reads them when
/// it loads the folder; we read `tokenizer_config.json`).
const OPTIONAL_FILES: [&str; 3] = [
    "model_index.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/special_tokens_map.json",
];

/// Checks the folder at `folder` (layout, configs, then every tensor of every part,
/// loaded on `device`) and copies its files, byte for byte, under `sd/` of the empty
/// `out_dir`, with a `generator.json` that knows no classes yet.
pub fn import_stable_diffusion(
    cfg: &ImportSdConfig,
    folder: &Path,
    out_dir: &Path,
    device: &SelectedDevice,
) -> Result<GeneratorFile, StageError> {
    start_stage(cfg, out_dir)?;
    let sd_folder = SdFolder::open(folder)?;
    let configs = sd_folder.configs()?;
    let image_size = image_size(cfg, &configs)?;
    // Every tensor is checked for presence and shape (one error naming the file).
    drop(StableDiffusion::load(folder, &device.device)?);
    for rel in files(&sd_folder) {
        let to = out_dir.join(SD_DIR).join(&rel);
        if let Some(parent) = to.parent() {
            create_dir_all(parent)?;
        }
        let from = folder.join(&rel);
        fs::copy(&from, &to).map_err(|source| StageError::Read { path: from, source })?;
    }
    let spec = GeneratorSpec::StableDiffusion {
        sd: SdSpec {
            method: SdMethod::Import,
            prompts: Default::default(),
            lora: None,
            text_per_class: false,
        },
    };
    GeneratorFile::write_new(
        out_dir,
        spec,
        image_size,
        Vec::new(),
        Vec::new(),
        Vec::new(),
    )
}

/// The pixel size: the config's, or the U-Net's `sample_size` in pixels; a multiple of
/// what the VAE and the U-Net downscale by together.
pub(super) fn image_size(cfg: &ImportSdConfig, configs: &SdConfigs) -> Result<u32, StageError> {
    let vae_factor = 1u32
        << (configs
            .vae
            .blocks
            .block_out_channels
            .len()
            .saturating_sub(1));
    let unet_factor = 1u32
        << (configs
            .unet
            .blocks
            .block_out_channels
            .len()
            .saturating_sub(1));
    let multiple = vae_factor * unet_factor;
    let size = cfg
        .image_size
        .unwrap_or(configs.unet.sample_size as u32 * vae_factor);
    if !size.is_multiple_of(multiple) {
        return Err(StageError::InvalidConfig(format!(
            "image_size {size} is not a multiple of {multiple} (the VAE downscales by \
             {vae_factor}, the U-Net by {unet_factor})"
        )));
    }
    Ok(size)
}

/// The folder's files, relative to it: what [`SdFolder::open`] found plus the optional
/// small files that exist.
pub(super) fn files(folder: &SdFolder) -> Vec<PathBuf> {
    let found = [
        folder.tokenizer.join("vocab.json"),
        folder.tokenizer.join("merges.txt"),
        folder.text_encoder_config.clone(),
        folder.text_encoder_weights.clone(),
        folder.vae_config.clone(),
        folder.vae_weights.clone(),
        folder.unet_config.clone(),
        folder.unet_weights.clone(),
        folder.scheduler_config.clone(),
    ];
    let optional = OPTIONAL_FILES
        .iter()
        .map(|rel| folder.root.join(rel))
        .filter(|path| path.is_file());
    found
        .into_iter()
        .chain(optional)
        .filter_map(|path| path.strip_prefix(&folder.root).ok().map(Path::to_owned))
        .collect()
}
