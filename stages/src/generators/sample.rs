//! `sample`: N images per class from a trained generator, as a synthetic image set.

use std::path::Path;

use serde::Serialize;

use super::artifact::{GeneratorFile, GeneratorSpec};
use super::config::{GeneratorFamily, SampleConfig};
use super::ddpm::sample::{DrawSpec, draw};
use super::ddpm::schedule::Schedule;
use super::ddpm::unet::UNet;
use super::gan::generator::Generator;
use super::gan::layers::Init;
use super::gan::sample as gan_sample;
use super::images::SyntheticWriter;
use super::latent::LatentMethod;
use super::latent::sample::LatentSampler;
use super::sd::SdMethod;
use super::sd::sample::sample_sd;
use crate::image_set::ImageSetManifest;
use crate::weights::load_module;
use crate::{StageError, StageIo};

/// Progress of sampling: images done of the total.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SampleProgress {
    pub done: usize,
    pub total: usize,
}

/// Draws `cfg.n` images of every requested class from the generator in `generator_dir`
/// into the empty `out_dir`. Image i of a class depends only on (seed, class, i), so
/// raising N keeps the first images.
pub fn sample_generator(
    generator_dir: &Path,
    cfg: &SampleConfig,
    seed: u64,
    io: &StageIo<'_, SampleProgress>,
) -> Result<ImageSetManifest, StageError> {
    sample_generator_with_base(generator_dir, None, cfg, seed, io)
}

/// [`sample_generator`] for a generator that may need its base: a LoRA generator holds
/// adapters only, and draws with the networks of the base in `base_dir` (checked against
/// the digest it recorded).
pub fn sample_generator_with_base(
    generator_dir: &Path,
    base_dir: Option<&Path>,
    cfg: &SampleConfig,
    seed: u64,
    io: &StageIo<'_, SampleProgress>,
) -> Result<ImageSetManifest, StageError> {
    io.start(cfg)?;
    let file = GeneratorFile::read(generator_dir)?;
    let family = match &file.spec {
        GeneratorSpec::Gan { .. } => GeneratorFamily::Gan,
        GeneratorSpec::Ddpm { .. } => GeneratorFamily::Ddpm,
        GeneratorSpec::Latent { latent } if latent.method == LatentMethod::Lora => {
            GeneratorFamily::LatentLora
        }
        GeneratorSpec::Latent { .. } => GeneratorFamily::Latent,
        GeneratorSpec::StableDiffusion { sd } if sd.method == SdMethod::Lora => {
            GeneratorFamily::StableDiffusionLora
        }
        GeneratorSpec::StableDiffusion { .. } => GeneratorFamily::StableDiffusion,
    };
    if let Some((_, why)) = cfg.misapplied(family) {
        return Err(StageError::InvalidConfig(why));
    }
    let cfg = &cfg.for_family(family)?;
    if let GeneratorSpec::StableDiffusion { .. } = &file.spec {
        return sample_sd(generator_dir, cfg, seed, io);
    }
    let latent = match &file.spec {
        GeneratorSpec::Latent { latent } => Some(LatentSampler::new(
            latent,
            generator_dir,
            base_dir,
            &io.device.device,
        )?),
        _ => None,
    };
    let wanted: Vec<String> = match &cfg.classes {
        Some(list) => list.clone(),
        None => file.checkpoints.iter().map(|c| c.class.clone()).collect(),
    };
    let size = file.image_size as usize;
    let mut writer = SyntheticWriter::new(
        io.out_dir,
        file.spec.name(),
        file.classes.clone(),
        file.image_size,
    );
    let total = wanted.len() * cfg.n;
    let mut done_before = 0;
    for class in &wanted {
        let checkpoint = file
            .checkpoints
            .iter()
            .find(|c| &c.class == class)
            .ok_or_else(|| {
                StageError::InvalidConfig(format!(
                    "the generator has no model for class {class:?} (it has {})",
                    file.checkpoints
                        .iter()
                        .map(|c| c.class.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let class_index = file
            .classes
            .iter()
            .position(|c| c == class)
            .unwrap_or_default();
        let mut report = |done: usize| {
            io.report(SampleProgress {
                done: done_before + done,
                total,
            })
        };
        let rows = match &file.spec {
            GeneratorSpec::Ddpm {
                unet,
                schedule,
                timesteps,
            } => {
                let net = load_module(
                    UNet::new(unet, file.image_size, &io.device.device),
                    &generator_dir.join(&checkpoint.weights),
                )?;
                let schedule = Schedule::new(*schedule, *timesteps);
                let spec = DrawSpec {
                    schedule: &schedule,
                    sampler: cfg.sampler(),
                    steps: cfg.steps_for(*timesteps)?,
                    size,
                    channels: 1,
                    clip: true,
                    seed,
                    stream: "sample",
                    class_index,
                    count: cfg.n,
                    batch: cfg.batch_size,
                };
                draw(&net, &spec, &io.device.device, &mut report, io.cancel)?
            }
            GeneratorSpec::Latent { .. } => {
                let Some(sampler) = &latent else {
                    return Err(StageError::InvalidConfig(
                        "latent sampler missing".to_owned(),
                    ));
                };
                let net = sampler.model(checkpoint, cfg.lora_scale, &io.device.device)?;
                sampler.draw(
                    &net,
                    class,
                    class_index,
                    cfg,
                    seed,
                    &io.device.device,
                    &mut report,
                    io.cancel,
                )?
            }
            GeneratorSpec::StableDiffusion { .. } => {
                return Err(StageError::InvalidConfig(
                    "Stable Diffusion is sampled above".to_owned(),
                ));
            }
            GeneratorSpec::Gan { generator } => {
                // Every parameter is then loaded; the init only gives the shapes.
                let net = load_module(
                    Generator::new(
                        generator,
                        file.image_size,
                        &mut Init::new(0, "gan-shape"),
                        &io.device.device,
                    ),
                    &generator_dir.join(&checkpoint.weights),
                )?;
                let spec = gan_sample::DrawSpec {
                    seed,
                    stream: "sample",
                    class_index,
                    size,
                    truncation: cfg.truncation.unwrap_or(1.0),
                    count: cfg.n,
                    batch: cfg.batch_size,
                };
                gan_sample::draw(&net, &spec, &io.device.device, &mut report, io.cancel)?
            }
        };
        for (i, row) in rows.iter().enumerate() {
            writer.add(class, i, row)?;
        }
        done_before += cfg.n;
    }
    writer.finish()
}
