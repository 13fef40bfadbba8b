//! What the adaptations share, latent and SD alike: their inputs, reading the base,
//! class-prompted examples, `generator.json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use burn::module::Module;
use burn::tensor::Device;

use crate::backend::SelectedDevice;
use crate::data::out_dir::start_stage;
use crate::generators::artifact::{Checkpoint, GeneratorFile, GeneratorSpec};
use crate::generators::ddpm::schedule::Schedule;
use crate::generators::images::{load_by_class, wanted_classes};
use crate::generators::latent::LatentProgress;
use crate::generators::latent::ae_train::encode_means;
use crate::generators::latent::autoencoder::Autoencoder;
use crate::generators::latent::config::{FinetuneConfig, LatentMethod, LatentSpec};
use crate::generators::latent::files::{AUTOENCODER_WEIGHTS, TEXT_WEIGHTS, UNET_WEIGHTS};
use crate::generators::latent::model::{LatentDiffusion, load_model, prompt_tokens};
use crate::generators::latent::train::{Example, LoopConfig, Trained, encode_examples, train_loop};
use crate::weights::load_module;
use crate::{StageConfig, StageError};

/// What an adaptation (`train.finetune`, `train.lora`, `train.dreambooth` and their SD
/// counterparts) reads, writes and reports to, besides its config.
pub struct AdaptIo<'a> {
    /// Keys every random stream of the run.
    pub seed: u64,
    /// The base generator's folder.
    pub base_dir: &'a Path,
    /// The labelled training image set.
    pub train_dir: &'a Path,
    /// The empty folder the adapted generator is written to.
    pub out_dir: &'a Path,
    pub device: &'a SelectedDevice,
    pub progress: &'a dyn Fn(LatentProgress),
    pub cancel: &'a AtomicBool,
}

impl AdaptIo<'_> {
    /// Every adaptation's first step: `cfg` checked and the output folder empty.
    pub(crate) fn start(&self, cfg: &impl StageConfig) -> Result<(), StageError> {
        start_stage(cfg, self.out_dir)
    }

    /// The device the models train on.
    pub(crate) fn autodiff(&self) -> Device {
        self.device.device.clone().autodiff()
    }
}

/// The base generator of an adaptation and its class-prompted training examples.
pub(in crate::generators::latent) struct Adaptation {
    pub spec: LatentSpec,
    pub classes: Vec<String>,
    /// Training images per class of `classes`.
    pub counts: Vec<usize>,
    pub examples: Vec<Example>,
}

impl Adaptation {
    /// Reads the base in `io.base_dir` (a `train.diffusion_base` or `train.finetune`
    /// output) and encodes the wanted classes of `io.train_dir` with their prompts.
    pub(super) fn prepare(cfg: &FinetuneConfig, io: &AdaptIo<'_>) -> Result<Self, StageError> {
        let device = &io.device.device;
        let (spec, ae) = read_base(io.base_dir, device)?;
        let (classes, groups) = load_by_class(io.train_dir, spec.autoencoder.image_size)?;
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

    /// The base's text encoder (frozen) and U-Net, on the autodiff device.
    pub(super) fn frozen_text_model(
        &self,
        io: &AdaptIo<'_>,
    ) -> Result<LatentDiffusion, StageError> {
        let mut model = load_model(
            &self.spec,
            &io.base_dir.join(TEXT_WEIGHTS),
            &io.base_dir.join(UNET_WEIGHTS),
            &io.autodiff(),
        )?;
        model.text = model.text.no_grad();
        Ok(model)
    }

    /// Trains `model` on the examples with `cfg`'s loop params; `phase` names the loss
    /// series and keys the random streams.
    pub(super) fn train(
        &self,
        model: LatentDiffusion,
        cfg: &FinetuneConfig,
        phase: &str,
        io: &AdaptIo<'_>,
    ) -> Result<Trained, StageError> {
        let schedule = Schedule::new(self.spec.schedule, self.spec.timesteps);
        let loop_cfg = LoopConfig::new(
            phase,
            phase,
            io.seed,
            cfg.loop_params(),
            &schedule,
            self.spec.autoencoder.latent_shape(),
        );
        let device = io.autodiff();
        train_loop(
            model,
            &loop_cfg,
            &self.examples,
            &device,
            io.progress,
            io.cancel,
        )
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
    let size = spec.autoencoder.image_size as usize;
    encode_examples(rows, tokens, hflip, size, |rows| {
        Ok(encode_means(ae, rows, &spec.autoencoder, device)?
            .into_iter()
            .map(|latent| latent.into_iter().map(|v| v * scale).collect())
            .collect())
    })
}

/// Writes `generator.json` of a latent generator: one checkpoint per class with training
/// images and a prompt.
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
        .map(|(class, &n)| Checkpoint::last_step(class, weights(class), steps, n))
        .collect();
    let image_size = spec.autoencoder.image_size;
    let spec = GeneratorSpec::Latent {
        latent: Box::new(spec),
    };
    GeneratorFile::write_new(out_dir, spec, image_size, classes, checkpoints, losses)
}
