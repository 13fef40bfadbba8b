//! Stable Diffusion's trainable part (text encoder + U-Net) for the shared training
//! loop, the LoRA targets, and the VAE encoding of gray training images.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::{SD_DIR, SdMethod, SdSpec};
use crate::StageError;
use crate::generators::artifact::{GeneratorFile, GeneratorSpec};
use crate::generators::latent::train::Denoiser;
use crate::sd::{
    AutoencoderKl, ClipTextModel, ClipTokenizer, SdConfigs, SdFolder, UNet2DCondition, VaeConfig,
};

/// LoRA targets: the attention projections of every transformer block's self- (`attn1`)
/// and cross-attention (`attn2`), as diffusers' LoRA training scripts target them.
pub(super) const LORA_TARGETS: &str = r"(^|\.)attn[12]\.(to_q|to_k|to_v|to_out\.0)\.weight$";

/// The text encoder and U-Net, as the training loop sees them.
#[derive(Module, Debug)]
pub(super) struct SdDenoiser {
    pub text: ClipTextModel,
    pub unet: UNet2DCondition,
}

impl Denoiser for SdDenoiser {
    fn predict(&self, x: Tensor<4>, t: &[usize], tokens: &[Vec<usize>]) -> Tensor<4> {
        let ids: Vec<Vec<u32>> = tokens
            .iter()
            .map(|row| row.iter().map(|&id| id as u32).collect())
            .collect();
        let t: Vec<f32> = t.iter().map(|&t| t as f32).collect();
        self.unet.forward(x, &t, self.text.forward(&ids))
    }
}

/// An SD generator artifact opened: its spec, `generator.json`, the imported folder
/// and its configs, and the tokenizer.
pub(super) struct SdArtifact {
    pub file: GeneratorFile,
    pub spec: SdSpec,
    pub folder: SdFolder,
    pub configs: SdConfigs,
    pub tokenizer: ClipTokenizer,
}

impl SdArtifact {
    pub fn open(dir: &Path) -> Result<Self, StageError> {
        let file = GeneratorFile::read(dir)?;
        let GeneratorSpec::StableDiffusion { sd } = &file.spec else {
            return Err(StageError::InvalidConfig(format!(
                "{} holds a {} generator, not Stable Diffusion",
                dir.display(),
                file.spec.name()
            )));
        };
        let spec = sd.clone();
        let folder = SdFolder::open(&dir.join(SD_DIR))?;
        let configs = folder.configs()?;
        let tokenizer = ClipTokenizer::from_dir(&folder.tokenizer)?;
        Ok(Self {
            file,
            spec,
            folder,
            configs,
            tokenizer,
        })
    }

    /// The base of an adaptation: an imported SD (adaptations start from the published
    /// weights, as the study's did).
    pub fn open_base(dir: &Path) -> Result<Self, StageError> {
        let base = Self::open(dir)?;
        if base.spec.method != SdMethod::Import {
            return Err(StageError::InvalidConfig(format!(
                "the base input is a {} generator; SD adaptations start from an \
                 import.stable_diffusion output",
                base.spec.name()
            )));
        }
        Ok(base)
    }

    pub fn text_encoder(&self, device: &Device) -> Result<ClipTextModel, StageError> {
        ClipTextModel::load(
            &self.configs.text_encoder,
            &self.folder.text_encoder_weights,
            device,
        )
    }

    pub fn unet(&self, device: &Device) -> Result<UNet2DCondition, StageError> {
        UNet2DCondition::load(&self.configs.unet, &self.folder.unet_weights, device)
    }

    pub fn vae(&self, device: &Device) -> Result<AutoencoderKl, StageError> {
        AutoencoderKl::load(&self.configs.vae, &self.folder.vae_weights, device)
    }

    /// Token ids of `prompt` as the training loop carries them.
    pub fn tokens(&self, prompt: &str) -> Vec<usize> {
        let ids = self.tokenizer.encode(prompt);
        ids.into_iter().map(|id| id as usize).collect()
    }

    /// Latent channels and side at the generator's image size.
    pub fn latent_shape(&self) -> (usize, usize) {
        let vae = &self.configs.vae;
        let factor = 1usize << vae.blocks.block_out_channels.len().saturating_sub(1);
        (vae.latent_channels, self.file.image_size as usize / factor)
    }
}

/// Images per VAE forward when encoding the training set.
const ENCODE_BATCH: usize = 8;

/// Scaled latents (the VAE's mean × `scaling_factor`) of gray `rows` of size² pixels in
/// [−1, 1], each replicated to RGB.
pub(super) fn encode_rows(
    vae: &AutoencoderKl,
    config: &VaeConfig,
    rows: &[Vec<f32>],
    size: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>, StageError> {
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ENCODE_BATCH) {
        let values: Vec<f32> = chunk.iter().flatten().copied().collect();
        let gray = Tensor::<4>::from_data(
            TensorData::new(values, [chunk.len(), 1, size, size]),
            device,
        );
        let (mean, _) = vae.encode(gray.repeat_dim(1, 3));
        let latents = mean
            .mul_scalar(config.scaling_factor)
            .try_into_vec_as::<f32>()
            .map_err(|err| StageError::Backend(format!("read latents from the device: {err}")))?;
        let per = latents.len() / chunk.len();
        out.extend(latents.chunks_exact(per).map(<[f32]>::to_vec));
    }
    Ok(out)
}
