//! The adaptations of an imported SD: `train.sd_finetune` (the U-Net), `train.sd_lora`
//! (adapters on its attention projections) and `train.sd_dreambooth` (a U-Net per class,
//! prior preservation). All run the latent family's training loop (ε-MSE on noised VAE
//! latents at timesteps of the SD schedule, Adam with warm-up) on Stable Diffusion's
//! text encoder (frozen unless DreamBooth's `train_text_encoder`) and U-Net.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use burn::module::Module;
use burn::tensor::Device;

use super::diffusers_lora::{DIFFUSERS_LORA_FILE, diffusers_lora_tensors};
use super::import::files;
use super::model::{LORA_TARGETS, SdArtifact, SdDenoiser, encode_rows};
use super::sample::{initial_latents, latent_rows};
use super::{SD_DIR, SD_LORA_FILE, SD_UNET_FILE, SdLoraConfig, SdLoraSpec, SdMethod, SdSpec};
use crate::StageError;
use crate::backend::SelectedDevice;
use crate::data::out_dir::{create_dir_all, ensure_empty};
use crate::generators::artifact::{Checkpoint, GENERATOR_FORMAT, GeneratorFile, GeneratorSpec};
use crate::generators::ddpm::schedule::Schedule;
use crate::generators::images::{ClassImages, load_by_class};
use crate::generators::latent::files::write_bytes;
use crate::generators::latent::lora::{adapter_bytes, attach};
use crate::generators::latent::stages::wanted_classes;
use crate::generators::latent::train::{Example, LoopConfig, train_loop};
use crate::generators::latent::{
    DreamboothConfig, FinetuneConfig, LOSS_WINDOW, LatentProgress, flip_rows,
};
use crate::sd::{SdSampler, StableDiffusion};
use crate::weights::module_bytes;

/// The base, the training set by class and the wanted classes' indices.
struct Prepared {
    base: SdArtifact,
    classes: Vec<String>,
    groups: Vec<ClassImages>,
    wanted: Vec<usize>,
    schedule: Schedule,
    /// The tokens of the empty prompt (what a dropped prompt becomes).
    empty: Vec<usize>,
}

impl Prepared {
    fn new(
        base_dir: &Path,
        train_dir: &Path,
        classes: Option<&[String]>,
    ) -> Result<Self, StageError> {
        let base = SdArtifact::open_base(base_dir)?;
        let (all, groups) = load_by_class(train_dir, base.file.image_size)?;
        let wanted = wanted_classes(&all, classes)?;
        let alphas = base.configs.scheduler.alphas_cumprod();
        let schedule = Schedule::from_alpha_bars(alphas.into_iter().map(f64::from).collect());
        let empty = base.tokens("");
        Ok(Self {
            base,
            classes: all,
            groups,
            wanted,
            schedule,
            empty,
        })
    }

    /// The scaled latents of class `index`'s images (and, with `hflip`, of the mirrored
    /// images), each with `tokens`.
    fn examples(
        &self,
        index: usize,
        tokens: &[usize],
        hflip: bool,
        device: &Device,
    ) -> Result<Vec<Example>, StageError> {
        let vae = self.base.vae(device)?;
        let config = &self.base.configs.vae;
        let size = self.base.file.image_size as usize;
        let rows = &self.groups[index].rows;
        let latents = encode_rows(&vae, config, rows, size, device)?;
        let mirrored: Vec<Option<Vec<f32>>> = if hflip {
            let views: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            let flipped = flip_rows(&views, &vec![true; rows.len()], size);
            let encoded = encode_rows(&vae, config, &flipped, size, device)?;
            encoded.into_iter().map(Some).collect()
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

    /// Every wanted class's examples with its prompt from `cfg`; the prompts by class.
    fn class_examples(
        &self,
        cfg: &FinetuneConfig,
        device: &Device,
    ) -> Result<(Vec<Example>, BTreeMap<String, String>), StageError> {
        let prompts = cfg.class_prompts();
        let mut examples = Vec::new();
        let mut used = BTreeMap::new();
        for &index in &self.wanted {
            let class = &self.classes[index];
            let prompt = prompts.for_class(class);
            examples.extend(self.examples(index, &self.base.tokens(&prompt), cfg.hflip, device)?);
            used.insert(class.clone(), prompt);
        }
        Ok((examples, used))
    }

    fn loop_config<'a>(
        &'a self,
        cfg: &FinetuneConfig,
        phase: &str,
        stream: &'a str,
        seed: u64,
    ) -> LoopConfig<'a> {
        let (channels, side) = self.base.latent_shape();
        LoopConfig {
            phase: phase.to_owned(),
            seed,
            stream,
            steps: cfg.steps,
            batch_size: cfg.batch_size,
            lr: cfg.lr,
            cfg_dropout: cfg.cfg_dropout,
            hflip: cfg.hflip,
            schedule: &self.schedule,
            channels,
            side,
            prior: None,
            empty_prompt: Some(&self.empty),
            eval_chunk: Some(cfg.batch_size),
        }
    }

    /// The base's text encoder (frozen) and U-Net, on the autodiff `device`.
    fn model(&self, device: &Device) -> Result<SdDenoiser, StageError> {
        Ok(SdDenoiser {
            text: self.base.text_encoder(device)?.no_grad(),
            unet: self.base.unet(device)?,
        })
    }

    /// Copies the base's folder into `out_dir` and writes `generator.json`: one
    /// checkpoint per class trained, named by `weights`.
    fn finish(
        &self,
        out_dir: &Path,
        spec: SdSpec,
        weights: impl Fn(&str) -> String,
        steps: usize,
        losses: Vec<(String, Vec<f32>)>,
    ) -> Result<GeneratorFile, StageError> {
        for rel in files(&self.base.folder) {
            let to = out_dir.join(SD_DIR).join(&rel);
            if let Some(parent) = to.parent() {
                create_dir_all(parent)?;
            }
            let from = self.base.folder.root.join(&rel);
            fs::copy(&from, &to).map_err(|source| StageError::Read { path: from, source })?;
        }
        let checkpoints = self
            .wanted
            .iter()
            .map(|&index| {
                let class = &self.classes[index];
                Checkpoint {
                    class: class.clone(),
                    weights: weights(class),
                    step: steps,
                    score: 0.0,
                    scores: Vec::new(),
                    train_images: self.groups[index].rows.len(),
                    holdout_images: 0,
                }
            })
            .collect();
        let file = GeneratorFile {
            format: GENERATOR_FORMAT,
            spec: GeneratorSpec::StableDiffusion { sd: spec },
            image_size: self.base.file.image_size,
            classes: self.classes.clone(),
            checkpoints,
            loss_every: LOSS_WINDOW,
            losses,
        };
        file.write(out_dir)?;
        Ok(file)
    }
}

/// `train.sd_finetune`: the U-Net on every wanted class's images with its prompt.
#[allow(clippy::too_many_arguments)] // The adaptations' shared signature.
pub fn train_sd_finetune(
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
    let prepared = Prepared::new(base_dir, train_dir, cfg.classes.as_deref())?;
    let (examples, prompts) = prepared.class_examples(cfg, &device.device)?;
    let ad = device.device.clone().autodiff();
    let loop_cfg = prepared.loop_config(cfg, "sd_finetune", "sd_finetune", seed);
    let trained = train_loop(
        prepared.model(&ad)?,
        &loop_cfg,
        &examples,
        &ad,
        progress,
        cancel,
    )?;
    write_bytes(
        &out_dir.join(SD_UNET_FILE),
        &module_bytes(&trained.model.unet, "unet")?,
    )?;
    let spec = SdSpec {
        method: SdMethod::Finetune,
        prompts,
        lora: None,
        text_per_class: false,
    };
    let losses = trained.series("sd_finetune");
    prepared.finish(
        out_dir,
        spec,
        |_| SD_UNET_FILE.to_owned(),
        cfg.steps,
        losses,
    )
}

/// `train.sd_lora`: adapters on the U-Net's attention projections, everything else
/// frozen; written in Burn's naming and in diffusers' (`pytorch_lora_weights.safetensors`).
#[allow(clippy::too_many_arguments)] // The adaptations' shared signature.
pub fn train_sd_lora(
    cfg: &SdLoraConfig,
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
    let prepared = Prepared::new(base_dir, train_dir, cfg.classes.as_deref())?;
    let (examples, prompts) = prepared.class_examples(&finetune, &device.device)?;
    let ad = device.device.clone().autodiff();
    let mut model = prepared.model(&ad)?;
    let scale = cfg.alpha / cfg.rank as f64;
    model.unet = attach(model.unet, LORA_TARGETS.to_owned(), cfg.rank, scale, seed)?;
    let loop_cfg = prepared.loop_config(&finetune, "sd_lora", "sd_lora", seed);
    let trained = train_loop(model, &loop_cfg, &examples, &ad, progress, cancel)?;
    let adapters = adapter_bytes(&trained.model.unet)?;
    write_bytes(
        &out_dir.join(DIFFUSERS_LORA_FILE),
        &diffusers_lora_tensors(&adapters, scale)?,
    )?;
    write_bytes(&out_dir.join(SD_LORA_FILE), &adapters)?;
    let spec = SdSpec {
        method: SdMethod::Lora,
        prompts,
        lora: Some(SdLoraSpec {
            rank: cfg.rank,
            alpha: cfg.alpha,
        }),
        text_per_class: false,
    };
    let losses = trained.series("sd_lora");
    prepared.finish(
        out_dir,
        spec,
        |_| SD_LORA_FILE.to_owned(),
        cfg.steps,
        losses,
    )
}

/// Prior images the base draws per forward.
const PRIOR_BATCH: usize = 4;

/// `train.sd_dreambooth`: per wanted class, the base draws `prior_images` latents for
/// the class prompt, then a copy of the base U-Net (and with `train_text_encoder` of its
/// text encoder) learns the class's images with the instance prompt plus
/// `prior_weight` × the loss on the prior latents.
#[allow(clippy::too_many_arguments)] // The adaptations' shared signature.
pub fn train_sd_dreambooth(
    cfg: &DreamboothConfig,
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
    let prepared = Prepared::new(base_dir, train_dir, cfg.classes.as_deref())?;
    let sd = StableDiffusion::load(&prepared.base.folder.root, &device.device)?;
    let ad = device.device.clone().autodiff();
    let loop_params = FinetuneConfig {
        classes: None,
        prompt: String::new(),
        prompts: BTreeMap::new(),
        cfg_dropout: 0.0,
        steps: cfg.steps,
        batch_size: cfg.batch_size,
        lr: cfg.lr,
        hflip: cfg.hflip,
    };
    let shape = prepared.base.latent_shape();
    let mut prompts = BTreeMap::new();
    let mut losses = Vec::new();
    for &index in &prepared.wanted {
        let class = &prepared.classes[index];
        let class_prompt = cfg.class_prompt.replace("{class}", class);
        let instance_prompt = cfg.instance_prompt.replace("{class}", class);
        let class_tokens = prepared.base.tokens(&class_prompt);
        let mut prior = Vec::with_capacity(cfg.prior_images);
        let indices: Vec<usize> = (0..cfg.prior_images).collect();
        for chunk in indices.chunks(PRIOR_BATCH) {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(StageError::Cancelled);
            }
            let noise = initial_latents(
                seed,
                "sd-dreambooth-prior",
                index,
                chunk,
                shape,
                &device.device,
            );
            let latents = sd.denoise(
                &vec![class_prompt.as_str(); chunk.len()],
                noise,
                SdSampler::Ddim,
                cfg.prior_steps,
                cfg.prior_guidance,
            );
            prior.extend(latent_rows(latents)?.into_iter().map(|latent| Example {
                latent,
                mirrored: None,
                tokens: class_tokens.clone(),
            }));
            progress(LatentProgress::Prior {
                class: class.clone(),
                done: prior.len(),
                total: cfg.prior_images,
            });
        }
        let examples = prepared.examples(
            index,
            &prepared.base.tokens(&instance_prompt),
            cfg.hflip,
            &device.device,
        )?;
        let mut model = prepared.model(&ad)?;
        if cfg.train_text_encoder {
            model.text = prepared.base.text_encoder(&ad)?;
        }
        let phase = format!("sd_dreambooth {class}");
        let stream = format!("sd_dreambooth-{index}");
        let mut loop_cfg = prepared.loop_config(&loop_params, &phase, &stream, seed);
        loop_cfg.prior = Some((&prior, cfg.prior_weight));
        let trained = train_loop(model, &loop_cfg, &examples, &ad, progress, cancel)?;
        write_bytes(
            &out_dir.join(dreambooth_unet(class)),
            &module_bytes(&trained.model.unet, "unet")?,
        )?;
        if cfg.train_text_encoder {
            write_bytes(
                &out_dir.join(dreambooth_text_encoder(class)),
                &module_bytes(&trained.model.text, "text encoder")?,
            )?;
        }
        prompts.insert(class.clone(), instance_prompt);
        losses.extend(trained.series(&phase));
    }
    let spec = SdSpec {
        method: SdMethod::Dreambooth,
        prompts,
        lora: None,
        text_per_class: cfg.train_text_encoder,
    };
    prepared.finish(out_dir, spec, dreambooth_unet, cfg.steps, losses)
}

pub(super) fn dreambooth_unet(class: &str) -> String {
    format!("unet-{class}.safetensors")
}

pub(super) fn dreambooth_text_encoder(class: &str) -> String {
    format!("text_encoder-{class}.safetensors")
}
