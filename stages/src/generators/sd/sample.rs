//! Sampling an SD generator: per class its prompt (the `sample` stage's `prompt`, else
//! the one the class was trained with, else the study's), PNDM (default, SD v1-4's) or
//! DDIM with classifier-free guidance (default 7.5), from initial latents keyed by
//! (seed, class, image) so image i is the same however many are drawn; the decoded RGB
//! averaged to gray.

use std::path::Path;
use std::sync::atomic::Ordering;

use burn::tensor::{Device, Tensor, TensorData};

use super::model::{LORA_TARGETS, SdArtifact};
use super::{SD_LORA_FILE, SD_UNET_FILE, STUDY_PROMPT, SdMethod};
use crate::generators::images::SyntheticWriter;
use crate::generators::latent::files::dreambooth_text_encoder;
use crate::generators::latent::lora::{attach, load_adapters};
use crate::generators::{SampleConfig, SampleProgress, Sampler};
use crate::image_set::ImageSetManifest;
use crate::rng::{keyed_rng, normal};
use crate::sd::{ClipTextModel, SdSampler, StableDiffusion, UNet2DCondition};
use crate::weights::load_module;
use crate::{StageError, StageIo};

/// SD v1.x pipelines' default guidance scale.
const DEFAULT_GUIDANCE: f64 = 7.5;

/// Draws `cfg.n` images of every requested class (for an imported SD, `classes` must
/// name them) into `out_dir` (empty, checked by the caller).
pub(crate) fn sample_sd(
    dir: &Path,
    cfg: &SampleConfig,
    seed: u64,
    io: &StageIo<'_, SampleProgress>,
) -> Result<ImageSetManifest, StageError> {
    let artifact = SdArtifact::open(dir)?;
    let device = &io.device.device;
    let mut sd = StableDiffusion::load(&artifact.folder.root, device)?;
    let spec = &artifact.spec;
    match spec.method {
        SdMethod::Finetune => sd.unet = trained_unet(&sd, &dir.join(SD_UNET_FILE), device)?,
        SdMethod::Lora => {
            let lora = spec.lora.ok_or_else(|| {
                StageError::InvalidConfig("the LoRA generator records no rank".to_owned())
            })?;
            let scale = lora.alpha / lora.rank as f64 * cfg.lora_scale.unwrap_or(1.0);
            let unet = attach(sd.unet, LORA_TARGETS.to_owned(), lora.rank, scale, 0)?;
            sd.unet = load_adapters(unet, &dir.join(SD_LORA_FILE))?;
        }
        SdMethod::Import | SdMethod::Dreambooth => {}
    }
    let file = &artifact.file;
    let (classes, wanted) = match (&cfg.classes, file.classes.is_empty()) {
        (Some(list), true) => (list.clone(), list.clone()),
        (None, true) => {
            return Err(StageError::InvalidConfig(
                "an imported Stable Diffusion knows no classes: list them in `classes`".to_owned(),
            ));
        }
        (Some(list), false) => (file.classes.clone(), list.clone()),
        (None, false) => (
            file.classes.clone(),
            file.checkpoints.iter().map(|c| c.class.clone()).collect(),
        ),
    };
    let sampler = match cfg.sampler.unwrap_or(Sampler::Pndm) {
        Sampler::Pndm => SdSampler::Pndm,
        Sampler::Ddim => SdSampler::Ddim,
        Sampler::Ddpm => {
            return Err(StageError::InvalidConfig(
                "`sampler: ddpm` does not apply to Stable Diffusion; use ddim or pndm".to_owned(),
            ));
        }
    };
    let steps = cfg.steps_for(usize::MAX)?;
    let guidance = cfg.guidance.unwrap_or(DEFAULT_GUIDANCE);
    let size = file.image_size as usize;
    let shape = artifact.latent_shape();
    let mut writer =
        SyntheticWriter::new(io.out_dir, spec.name(), classes.clone(), file.image_size);
    let total = wanted.len() * cfg.n;
    let mut done = 0;
    for class in &wanted {
        let class_index = classes.iter().position(|c| c == class).ok_or_else(|| {
            StageError::InvalidConfig(format!(
                "the generator has no class {class:?} (it has {})",
                classes.join(", ")
            ))
        })?;
        if spec.method == SdMethod::Dreambooth {
            let checkpoint = file.checkpoints.iter().find(|c| &c.class == class);
            let Some(checkpoint) = checkpoint else {
                return Err(StageError::InvalidConfig(format!(
                    "the DreamBooth generator has no model for class {class:?}"
                )));
            };
            sd.unet = trained_unet(&sd, &dir.join(&checkpoint.weights), device)?;
            if spec.text_per_class {
                sd.text_encoder = load_module(
                    ClipTextModel::new(&artifact.configs.text_encoder, device),
                    &dir.join(dreambooth_text_encoder(class)),
                )?;
            }
        }
        let prompt = match (&cfg.prompt, spec.prompts.get(class)) {
            (Some(prompt), _) => prompt.replace("{class}", class),
            (None, Some(trained)) => trained.clone(),
            (None, None) => STUDY_PROMPT.replace("{class}", class),
        };
        let indices: Vec<usize> = (0..cfg.n).collect();
        for chunk in indices.chunks(cfg.batch_size.max(1)) {
            if io.cancel.load(Ordering::Relaxed) {
                return Err(StageError::Cancelled);
            }
            let noise = initial_latents(seed, "sd-sample", class_index, chunk, shape, device);
            let prompts = vec![prompt.as_str(); chunk.len()];
            let latents = sd.denoise(&prompts, noise, sampler, steps, guidance);
            // RGB in [0, 1] → gray in [−1, 1].
            let gray = sd
                .decode_latents(latents)
                .mean_dim(1)
                .mul_scalar(2.0)
                .sub_scalar(1.0);
            let values = gray.try_into_vec_as::<f32>().map_err(|err| {
                StageError::Backend(format!("read images from the device: {err}"))
            })?;
            for (&i, row) in chunk.iter().zip(values.chunks_exact(size * size)) {
                writer.add(class, i, row)?;
            }
            done += chunk.len();
            io.report(SampleProgress { done, total });
        }
    }
    writer.finish()
}

/// A U-Net trained by an adaptation (Burn's naming), shaped as `sd`'s.
fn trained_unet(
    sd: &StableDiffusion,
    path: &Path,
    device: &Device,
) -> Result<UNet2DCondition, StageError> {
    load_module(UNet2DCondition::new(&sd.unet_config, device), path)
}

/// Unit-variance initial latents [images, c, side, side], image i of class
/// `class_index` from its own stream.
pub(super) fn initial_latents(
    seed: u64,
    stream: &str,
    class_index: usize,
    images: &[usize],
    (channels, side): (usize, usize),
    device: &Device,
) -> Tensor<4> {
    let per = channels * side * side;
    let mut values = Vec::with_capacity(images.len() * per);
    for &i in images {
        let mut rng = keyed_rng(seed, stream, &[class_index as u64, i as u64]);
        values.extend((0..per).map(|_| normal(&mut rng)));
    }
    Tensor::from_data(
        TensorData::new(values, [images.len(), channels, side, side]),
        device,
    )
}

/// One row per image of a batch of latents.
pub(super) fn latent_rows(latents: Tensor<4>) -> Result<Vec<Vec<f32>>, StageError> {
    let [b, ..] = latents.dims();
    let values = latents
        .try_into_vec_as::<f32>()
        .map_err(|err| StageError::Backend(format!("read latents from the device: {err}")))?;
    Ok(values
        .chunks_exact(values.len() / b.max(1))
        .map(<[f32]>::to_vec)
        .collect())
}
