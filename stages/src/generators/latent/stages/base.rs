//! `train.diffusion_base`: the latent diffusion model every adaptation starts from.

use std::path::Path;

use rand::RngCore;

use crate::generators::artifact::GeneratorFile;
use crate::generators::ddpm::schedule::Schedule;
use crate::generators::images::load_by_class;
use crate::generators::latent::LatentProgress;
use crate::generators::latent::ae_train::load_autoencoder;
use crate::generators::latent::config::{DiffusionBaseConfig, LatentMethod, LatentSpec, TextSpec};
use crate::generators::latent::files::{AUTOENCODER_WEIGHTS, TEXT_WEIGHTS, UNET_WEIGHTS};
use crate::generators::latent::files::{copy_file, write_bytes};
use crate::generators::latent::model::{LatentDiffusion, prompt_tokens};
use crate::generators::latent::train::{LoopConfig, train_loop};
use crate::generators::latent::vocab::build_vocabulary;
use crate::rng::keyed_rng;
use crate::weights::{load_module, module_bytes};
use crate::{StageError, StageIo};

use super::adaptation::{finish, to_examples};

/// Where the base model's data and starting weights come from.
pub struct BaseInputs<'a> {
    /// The labelled training set (its classes name the generator's classes).
    pub train: &'a Path,
    /// Extra image sets (labels ignored): more pretraining images.
    pub extra: Vec<&'a Path>,
    /// A `train.autoencoder` artifact.
    pub autoencoder: &'a Path,
    /// Safetensors files to initialise the U-Net and the text encoder from.
    pub init_unet: Option<&'a Path>,
    pub init_text_encoder: Option<&'a Path>,
}

/// Pretrains the base model on every image of `inputs` with `cfg.prompt` and writes a
/// latent generator (autoencoder, text encoder, U-Net) into the empty `out_dir`.
pub fn train_diffusion_base(
    cfg: &DiffusionBaseConfig,
    seed: u64,
    inputs: &BaseInputs<'_>,
    io: &StageIo<'_, LatentProgress>,
) -> Result<GeneratorFile, StageError> {
    io.start(cfg)?;
    let (ae_file, ae) = load_autoencoder(inputs.autoencoder, &io.device.device)?;
    let ae_spec = ae_file.spec.clone();
    cfg.unet().check_latent_side(ae_spec.latent_size())?;
    let (classes, groups) = load_by_class(inputs.train, ae_spec.image_size)?;
    let mut rows: Vec<Vec<f32>> = groups.iter().flat_map(|g| g.rows.clone()).collect();
    for dir in &inputs.extra {
        let (_, extra) = load_by_class(dir, ae_spec.image_size)?;
        rows.extend(extra.into_iter().flat_map(|g| g.rows));
    }
    let vocabulary = build_vocabulary(
        classes
            .iter()
            .map(String::as_str)
            .chain(cfg.extra_words.iter().map(String::as_str)),
    );
    let text = TextSpec {
        vocabulary,
        context_length: cfg.context_length,
        width: cfg.text_width,
        layers: cfg.text_layers,
        heads: cfg.heads,
    };
    let spec = LatentSpec {
        method: LatentMethod::Base,
        autoencoder: ae_spec.clone(),
        scale_factor: ae_file.scale_factor,
        text,
        unet: cfg.unet(),
        schedule: cfg.schedule,
        timesteps: cfg.timesteps,
        prompts: classes
            .iter()
            .map(|c| (c.clone(), cfg.prompt.clone()))
            .collect(),
        lora: None,
        base_digest: None,
        text_per_class: false,
        lora_scale: None,
    };
    let tokens = prompt_tokens(&spec.text, &cfg.prompt)?;
    let examples = to_examples(&ae, &spec, &rows, &tokens, cfg.hflip, &io.device.device)?;
    let ad = io.device.device.clone().autodiff();
    let init_seed = keyed_rng(seed, "latent-base-init", &[]).next_u64();
    let mut model = LatentDiffusion::new(
        &spec.text,
        &spec.unet,
        ae_spec.latent_channels,
        ae_spec.latent_size(),
        init_seed,
        &ad,
    );
    if let Some(path) = inputs.init_unet {
        model.unet = load_module(model.unet, path)?;
    }
    if let Some(path) = inputs.init_text_encoder {
        model.text = load_module(model.text, path)?;
    }
    let schedule = Schedule::new(spec.schedule, spec.timesteps);
    let loop_cfg = LoopConfig::new(
        "base",
        "latent-base",
        seed,
        cfg.loop_params(),
        &schedule,
        ae_spec.latent_shape(),
    );
    let trained = train_loop(model, &loop_cfg, &examples, &ad, io.progress, io.cancel)?;
    let model = &trained.model;
    copy_file(inputs.autoencoder, io.out_dir, AUTOENCODER_WEIGHTS)?;
    write_bytes(
        &io.out_dir.join(TEXT_WEIGHTS),
        &module_bytes(&model.text, "text encoder")?,
    )?;
    write_bytes(
        &io.out_dir.join(UNET_WEIGHTS),
        &module_bytes(&model.unet, "unet")?,
    )?;
    let counts: Vec<usize> = groups.iter().map(|g| g.rows.len()).collect();
    finish(
        io.out_dir,
        spec,
        classes,
        &counts,
        |_| UNET_WEIGHTS.to_owned(),
        cfg.steps,
        trained.series("base"),
    )
}
