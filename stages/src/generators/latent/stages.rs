//! The stage functions `train.diffusion_base`, `train.finetune` and `train.lora`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use burn::module::Module;
use burn::tensor::Device;
use rand::RngCore;

use super::ae_train::{encode_means, load_autoencoder};
use super::autoencoder::Autoencoder;
use super::config::{
    DiffusionBaseConfig, FinetuneConfig, LatentMethod, LatentSpec, LoraConfig, TextSpec,
};
use super::files::{AUTOENCODER_WEIGHTS, LORA_WEIGHTS, TEXT_WEIGHTS, UNET_WEIGHTS};
use super::files::{base_digest, copy_file, write_bytes};
use super::model::{LatentDiffusion, load_model, prompt_tokens};
use super::train::{Example, LoopConfig, Trained, train_loop};
use super::vocab::build_vocabulary;
use super::{LOSS_WINDOW, LatentProgress, flip_rows, lora};
use crate::StageError;
use crate::backend::SelectedDevice;
use crate::classifiers::rng::keyed_rng;
use crate::data::out_dir::ensure_empty;
use crate::generators::artifact::{Checkpoint, GENERATOR_FORMAT, GeneratorFile, GeneratorSpec};
use crate::generators::ddpm::schedule::Schedule;
use crate::generators::images::load_by_class;
use crate::weights::{load_module, module_bytes};

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
    out_dir: &Path,
    device: &SelectedDevice,
    progress: &dyn Fn(LatentProgress),
    cancel: &AtomicBool,
) -> Result<GeneratorFile, StageError> {
    cfg.validate()?;
    ensure_empty(out_dir)?;
    let (ae_file, ae) = load_autoencoder(inputs.autoencoder, &device.device)?;
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
    let examples = to_examples(&ae, &spec, &rows, &tokens, cfg.hflip, &device.device)?;
    let ad = device.device.clone().autodiff();
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
    let loop_cfg = LoopConfig {
        phase: "base".to_owned(),
        seed,
        stream: "latent-base",
        steps: cfg.steps,
        batch_size: cfg.batch_size,
        lr: cfg.lr,
        cfg_dropout: cfg.cfg_dropout,
        hflip: cfg.hflip,
        schedule: &schedule,
        channels: ae_spec.latent_channels,
        side: ae_spec.latent_size() as usize,
        prior: None,
    };
    let trained = train_loop(model, &loop_cfg, &examples, &ad, progress, cancel)?;
    let model = &trained.model;
    copy_file(inputs.autoencoder, out_dir, AUTOENCODER_WEIGHTS)?;
    write_bytes(
        &out_dir.join(TEXT_WEIGHTS),
        &module_bytes(&model.text, "text encoder")?,
    )?;
    write_bytes(
        &out_dir.join(UNET_WEIGHTS),
        &module_bytes(&model.unet, "unet")?,
    )?;
    let counts: Vec<usize> = groups.iter().map(|g| g.rows.len()).collect();
    finish(
        out_dir,
        spec,
        classes,
        &counts,
        |_| UNET_WEIGHTS.to_owned(),
        cfg.steps,
        trained.series("base"),
    )
}

/// Fine-tunes the whole U-Net of the base generator in `base_dir` on the classes of
/// `train_dir` with class prompts (text encoder frozen) and writes a self-contained
/// latent generator into the empty `out_dir`.
#[allow(clippy::too_many_arguments)] // Each argument is a distinct, named input.
pub fn train_finetune(
    cfg: &FinetuneConfig,
    seed: u64,
    base_dir: &Path,
    train_dir: &Path,
    out_dir: &Path,
    device: &SelectedDevice,
    progress: &dyn Fn(LatentProgress),
    cancel: &AtomicBool,
) -> Result<GeneratorFile, StageError> {
    cfg.validate()?;
    ensure_empty(out_dir)?;
    let base = Adaptation::prepare(base_dir, train_dir, cfg, &device.device)?;
    let ad = device.device.clone().autodiff();
    let mut model = load_model(
        &base.spec,
        &base_dir.join(TEXT_WEIGHTS),
        &base_dir.join(UNET_WEIGHTS),
        &ad,
    )?;
    model.text = model.text.no_grad();
    let trained = base.train(model, cfg, seed, "finetune", &ad, progress, cancel)?;
    let model = &trained.model;
    copy_file(base_dir, out_dir, AUTOENCODER_WEIGHTS)?;
    copy_file(base_dir, out_dir, TEXT_WEIGHTS)?;
    write_bytes(
        &out_dir.join(UNET_WEIGHTS),
        &module_bytes(&model.unet, "unet")?,
    )?;
    let mut spec = base.spec;
    spec.method = LatentMethod::Finetune;
    finish(
        out_dir,
        spec,
        base.classes,
        &base.counts,
        |_| UNET_WEIGHTS.to_owned(),
        cfg.steps,
        trained.series("finetune"),
    )
}

/// Trains LoRA adapters on the base generator's U-Net (everything else frozen) and
/// writes only the adapters, with the base's digest, into the empty `out_dir`.
#[allow(clippy::too_many_arguments)] // Each argument is a distinct, named input.
pub fn train_lora(
    cfg: &LoraConfig,
    seed: u64,
    base_dir: &Path,
    train_dir: &Path,
    out_dir: &Path,
    device: &SelectedDevice,
    progress: &dyn Fn(LatentProgress),
    cancel: &AtomicBool,
) -> Result<GeneratorFile, StageError> {
    cfg.validate()?;
    ensure_empty(out_dir)?;
    let finetune = cfg.finetune();
    let base = Adaptation::prepare(base_dir, train_dir, &finetune, &device.device)?;
    let ad = device.device.clone().autodiff();
    let mut model = load_model(
        &base.spec,
        &base_dir.join(TEXT_WEIGHTS),
        &base_dir.join(UNET_WEIGHTS),
        &ad,
    )?;
    model.text = model.text.no_grad();
    let lora_seed = keyed_rng(seed, "lora-init", &[]).next_u64();
    model.unet = lora::apply(model.unet, &cfg.lora(), 1.0, lora_seed)?;
    let trained = base.train(model, &finetune, seed, "lora", &ad, progress, cancel)?;
    let model = &trained.model;
    write_bytes(
        &out_dir.join(LORA_WEIGHTS),
        &lora::adapter_bytes(&model.unet)?,
    )?;
    let mut spec = base.spec;
    spec.method = LatentMethod::Lora;
    spec.lora = Some(cfg.lora());
    spec.base_digest = Some(base_digest(base_dir)?);
    finish(
        out_dir,
        spec,
        base.classes,
        &base.counts,
        |_| LORA_WEIGHTS.to_owned(),
        cfg.steps,
        trained.series("lora"),
    )
}

/// The base generator of an adaptation and its class-prompted training examples.
pub(super) struct Adaptation {
    pub spec: LatentSpec,
    pub classes: Vec<String>,
    /// Training images per class of `classes`.
    pub counts: Vec<usize>,
    pub examples: Vec<Example>,
}

impl Adaptation {
    /// Reads the base in `base_dir` (a `train.diffusion_base` or `train.finetune`
    /// output) and encodes the wanted classes of `train_dir` with their prompts.
    fn prepare(
        base_dir: &Path,
        train_dir: &Path,
        cfg: &FinetuneConfig,
        device: &Device,
    ) -> Result<Self, StageError> {
        let (spec, ae) = read_base(base_dir, device)?;
        let (classes, groups) = load_by_class(train_dir, spec.autoencoder.image_size)?;
        let wanted = wanted_classes(&classes, cfg.classes.as_deref())?;
        let prompts = cfg.class_prompts();
        let mut examples = Vec::new();
        let mut spec = spec;
        spec.prompts = BTreeMap::new();
        let mut counts = vec![0; classes.len()];
        for &index in &wanted {
            let class = &classes[index];
            let prompt = prompts.for_class(class);
            let tokens = prompt_tokens(&spec.text, &prompt)?;
            examples.extend(to_examples(
                &ae,
                &spec,
                &groups[index].rows,
                &tokens,
                cfg.hflip,
                device,
            )?);
            counts[index] = groups[index].rows.len();
            spec.prompts.insert(class.clone(), prompt);
        }
        Ok(Self {
            spec,
            classes,
            counts,
            examples,
        })
    }

    #[allow(clippy::too_many_arguments)] // Each argument is a distinct, named input.
    fn train(
        &self,
        model: LatentDiffusion,
        cfg: &FinetuneConfig,
        seed: u64,
        phase: &str,
        device: &Device,
        progress: &dyn Fn(LatentProgress),
        cancel: &AtomicBool,
    ) -> Result<Trained, StageError> {
        let schedule = Schedule::new(self.spec.schedule, self.spec.timesteps);
        let ae = &self.spec.autoencoder;
        let loop_cfg = LoopConfig {
            phase: phase.to_owned(),
            seed,
            stream: phase,
            steps: cfg.steps,
            batch_size: cfg.batch_size,
            lr: cfg.lr,
            cfg_dropout: cfg.cfg_dropout,
            hflip: cfg.hflip,
            schedule: &schedule,
            channels: ae.latent_channels,
            side: ae.latent_size() as usize,
            prior: None,
        };
        train_loop(model, &loop_cfg, &self.examples, device, progress, cancel)
    }
}

/// The latent spec of a base generator (one shared U-Net: a base or a fine-tune) and
/// its autoencoder.
pub(super) fn read_base(
    base_dir: &Path,
    device: &Device,
) -> Result<(LatentSpec, Autoencoder), StageError> {
    let file = GeneratorFile::read(base_dir)?;
    let spec = match file.spec {
        GeneratorSpec::Latent { latent }
            if matches!(latent.method, LatentMethod::Base | LatentMethod::Finetune) =>
        {
            *latent
        }
        other => {
            return Err(StageError::InvalidConfig(format!(
                "the base input is a {} generator; adaptations start from a \
                 train.diffusion_base or train.finetune output",
                other.name()
            )));
        }
    };
    let ae = load_module(
        Autoencoder::new(&spec.autoencoder, device),
        &base_dir.join(AUTOENCODER_WEIGHTS),
    )?;
    Ok((spec, ae))
}

/// Indices of the wanted classes (default: all), each checked against `classes`.
pub(super) fn wanted_classes(
    classes: &[String],
    wanted: Option<&[String]>,
) -> Result<Vec<usize>, StageError> {
    let Some(wanted) = wanted else {
        return Ok((0..classes.len()).collect());
    };
    wanted
        .iter()
        .map(|class| {
            classes.iter().position(|c| c == class).ok_or_else(|| {
                StageError::InvalidConfig(format!(
                    "class {class:?} is not in the training set (it has {})",
                    classes.join(", ")
                ))
            })
        })
        .collect()
}

/// Scaled latents of `rows`, each with `tokens`; with `hflip`, also those of the rows
/// mirrored left-right (encoded, not mirrored in latent space).
pub(super) fn to_examples(
    ae: &Autoencoder,
    spec: &LatentSpec,
    rows: &[Vec<f32>],
    tokens: &[usize],
    hflip: bool,
    device: &Device,
) -> Result<Vec<Example>, StageError> {
    let scale = spec.scale_factor as f32;
    let scaled = |rows: &[Vec<f32>]| -> Result<Vec<Vec<f32>>, StageError> {
        Ok(encode_means(ae, rows, &spec.autoencoder, device)?
            .into_iter()
            .map(|latent| latent.into_iter().map(|v| v * scale).collect())
            .collect())
    };
    let latents = scaled(rows)?;
    let mirrored: Vec<Option<Vec<f32>>> = if hflip {
        let size = spec.autoencoder.image_size as usize;
        let views: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let flipped = flip_rows(&views, &vec![true; rows.len()], size);
        scaled(&flipped)?.into_iter().map(Some).collect()
    } else {
        vec![None; rows.len()]
    };
    Ok(latents
        .into_iter()
        .zip(mirrored)
        .map(|(latent, mirrored)| Example {
            latent,
            mirrored,
            tokens: tokens.to_vec(),
        })
        .collect())
}

/// Writes `generator.json`: one checkpoint entry per class with training images (the
/// last step; latent generators do no checkpoint selection, so score is 0 and scores
/// empty).
pub(super) fn finish(
    out_dir: &Path,
    spec: LatentSpec,
    classes: Vec<String>,
    counts: &[usize],
    weights: impl Fn(&str) -> String,
    steps: usize,
    losses: Vec<(String, Vec<f32>)>,
) -> Result<GeneratorFile, StageError> {
    let checkpoints = classes
        .iter()
        .zip(counts)
        .filter(|(class, n)| **n > 0 && spec.prompts.contains_key(*class))
        .map(|(class, &n)| Checkpoint {
            class: class.clone(),
            weights: weights(class),
            step: steps,
            score: 0.0,
            scores: Vec::new(),
            train_images: n,
            holdout_images: 0,
        })
        .collect();
    let file = GeneratorFile {
        format: GENERATOR_FORMAT,
        image_size: spec.autoencoder.image_size,
        spec: GeneratorSpec::Latent {
            latent: Box::new(spec),
        },
        classes,
        checkpoints,
        loss_every: LOSS_WINDOW,
        losses,
    };
    file.write(out_dir)?;
    Ok(file)
}
