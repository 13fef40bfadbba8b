//! What the adaptations share: reading the base, class-prompted examples, `generator.json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use burn::tensor::Device;

use crate::StageError;
use crate::generators::artifact::{Checkpoint, GENERATOR_FORMAT, GeneratorFile, GeneratorSpec};
use crate::generators::ddpm::schedule::Schedule;
use crate::generators::images::load_by_class;
use crate::generators::latent::ae_train::encode_means;
use crate::generators::latent::autoencoder::Autoencoder;
use crate::generators::latent::config::{FinetuneConfig, LatentMethod, LatentSpec};
use crate::generators::latent::files::AUTOENCODER_WEIGHTS;
use crate::generators::latent::model::{LatentDiffusion, prompt_tokens};
use crate::generators::latent::train::{Example, LoopConfig, Trained, train_loop};
use crate::generators::latent::{LOSS_WINDOW, LatentProgress, flip_rows};
use crate::weights::load_module;

/// The base generator of an adaptation and its class-prompted training examples.
pub(in crate::generators::latent) struct Adaptation {
    pub spec: LatentSpec,
    pub classes: Vec<String>,
    /// Training images per class of `classes`.
    pub counts: Vec<usize>,
    pub examples: Vec<Example>,
}

impl Adaptation {
    /// Reads the base in `base_dir` (a `train.diffusion_base` or `train.finetune`
    /// output) and encodes the wanted classes of `train_dir` with their prompts.
    pub(super) fn prepare(
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
    pub(super) fn train(
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
            empty_prompt: None,
            eval_chunk: None,
        };
        train_loop(model, &loop_cfg, &self.examples, device, progress, cancel)
    }
}

/// The latent spec of a base generator (one shared U-Net: a base or a fine-tune) and
/// its autoencoder.
pub(in crate::generators::latent) fn read_base(
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
pub(crate) fn wanted_classes(
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
pub(in crate::generators::latent) fn to_examples(
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
pub(in crate::generators::latent) fn finish(
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
