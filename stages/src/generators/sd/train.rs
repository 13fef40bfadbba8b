//! The adaptations of an imported SD: `train.sd_finetune` (the U-Net), `train.sd_lora`
//! (adapters on its attention projections) and `train.sd_dreambooth` (a U-Net per class,
//! prior preservation). All run the latent family's training loop (ε-MSE on noised VAE
//! latents at timesteps of the SD schedule, Adam with warm-up) on Stable Diffusion's
//! text encoder (frozen unless DreamBooth's `train_text_encoder`) and U-Net.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;

use super::diffusers_lora::{DIFFUSERS_LORA_FILE, diffusers_lora_tensors};
use super::import::files;
use super::model::{LORA_TARGETS, SdArtifact, SdDenoiser, encode_rows};
use super::sample::{initial_latents, latent_rows};
use super::{SD_DIR, SD_LORA_FILE, SD_UNET_FILE, SdLoraConfig, SdLoraSpec, SdMethod, SdSpec};
use crate::StageError;
use crate::data::out_dir::create_dir_all;
use crate::generators::artifact::{Checkpoint, GeneratorFile, GeneratorSpec};
use crate::generators::ddpm::schedule::Schedule;
use crate::generators::images::{ClassImages, load_by_class, wanted_classes};
use crate::generators::latent::config::LoopParams;
use crate::generators::latent::files::{dreambooth_text_encoder, dreambooth_unet, write_bytes};
use crate::generators::latent::lora::{adapter_bytes, attach};
use crate::generators::latent::stages::AdaptIo;
use crate::generators::latent::train::{Example, LoopConfig, Trained, encode_examples, train_loop};
use crate::generators::latent::{DreamboothConfig, FinetuneConfig, LatentProgress};
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
        encode_examples(&self.groups[index].rows, tokens, hflip, size, |rows| {
            encode_rows(&vae, config, rows, size, device)
        })
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

    /// The loop over the base's latents: dropped prompts become the tokenised empty
    /// prompt, the evaluation batch is encoded `batch_size` examples per forward.
    fn loop_config<'a>(
        &'a self,
        params: LoopParams,
        phase: &str,
        stream: &'a str,
        seed: u64,
    ) -> LoopConfig<'a> {
        let shape = self.base.latent_shape();
        let mut loop_cfg = LoopConfig::new(phase, stream, seed, params, &self.schedule, shape);
        loop_cfg.empty_prompt = Some(&self.empty);
        loop_cfg.eval_chunk = Some(params.batch_size);
        loop_cfg
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
                let images = self.groups[index].rows.len();
                Checkpoint::last_step(class, weights(class), steps, images)
            })
            .collect();
        let spec = GeneratorSpec::StableDiffusion { sd: spec };
        let size = self.base.file.image_size;
        GeneratorFile::write_new(
            out_dir,
            spec,
            size,
            self.classes.clone(),
            checkpoints,
            losses,
        )
    }

    /// [`Self::finish`] for one set of weights, the file `weights`, shared by every class.
    fn finish_shared(
        &self,
        out_dir: &Path,
        spec: SdSpec,
        weights: &str,
        steps: usize,
        losses: Vec<(String, Vec<f32>)>,
    ) -> Result<GeneratorFile, StageError> {
        self.finish(out_dir, spec, |_| weights.to_owned(), steps, losses)
    }

    /// What `train.sd_finetune` and `train.sd_lora` share: every wanted class's examples
    /// with its prompt, and the loop over the base's text encoder (frozen) and U-Net,
    /// which `adapt` turns into the model trained. Returns the trained model and the
    /// prompts by class.
    fn train_class_prompted(
        &self,
        cfg: &FinetuneConfig,
        phase: &str,
        io: &AdaptIo<'_>,
        adapt: impl FnOnce(SdDenoiser) -> Result<SdDenoiser, StageError>,
    ) -> Result<(Trained<SdDenoiser>, BTreeMap<String, String>), StageError> {
        let (examples, prompts) = self.class_examples(cfg, &io.device.device)?;
        let ad = io.autodiff();
        let model = adapt(self.model(&ad)?)?;
        let loop_cfg = self.loop_config(cfg.loop_params(), phase, phase, io.seed);
        let trained = train_loop(model, &loop_cfg, &examples, &ad, io.progress, io.cancel)?;
        Ok((trained, prompts))
    }
}

/// `train.sd_finetune`: the U-Net on every wanted class's images with its prompt.
pub fn train_sd_finetune(
    cfg: &FinetuneConfig,
    io: &AdaptIo<'_>,
) -> Result<GeneratorFile, StageError> {
    io.start(cfg)?;
    let prepared = Prepared::new(io.base_dir, io.train_dir, cfg.classes.as_deref())?;
    let (trained, prompts) = prepared.train_class_prompted(cfg, "sd_finetune", io, Ok)?;
    write_bytes(
        &io.out_dir.join(SD_UNET_FILE),
        &module_bytes(&trained.model.unet, "unet")?,
    )?;
    let spec = SdSpec {
        method: SdMethod::Finetune,
        prompts,
        lora: None,
        text_per_class: false,
    };
    let losses = trained.series("sd_finetune");
    prepared.finish_shared(io.out_dir, spec, SD_UNET_FILE, cfg.steps, losses)
}

/// `train.sd_lora`: adapters on the U-Net's attention projections, everything else
/// frozen; written in Burn's naming and in diffusers' (`pytorch_lora_weights.safetensors`).
pub fn train_sd_lora(cfg: &SdLoraConfig, io: &AdaptIo<'_>) -> Result<GeneratorFile, StageError> {
    io.start(cfg)?;
    let prepared = Prepared::new(io.base_dir, io.train_dir, cfg.classes.as_deref())?;
    let scale = cfg.alpha / cfg.rank as f64;
    let (trained, prompts) =
        prepared.train_class_prompted(&cfg.finetune(), "sd_lora", io, |mut model| {
            model.unet = attach(
                model.unet,
                LORA_TARGETS.to_owned(),
                cfg.rank,
                scale,
                io.seed,
            )?;
            Ok(model)
        })?;
    let adapters = adapter_bytes(&trained.model.unet)?;
    write_bytes(
        &io.out_dir.join(DIFFUSERS_LORA_FILE),
        &diffusers_lora_tensors(&adapters, scale)?,
    )?;
    write_bytes(&io.out_dir.join(SD_LORA_FILE), &adapters)?;
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
    prepared.finish_shared(io.out_dir, spec, SD_LORA_FILE, cfg.steps, losses)
}

/// Prior images the base draws per forward.
const PRIOR_BATCH: usize = 4;

/// `train.sd_dreambooth`: per wanted class, the base draws `prior_images` latents for
/// the class prompt, then a copy of the base U-Net (and with `train_text_encoder` of its
/// text encoder) learns the class's images with the instance prompt plus
/// `prior_weight` × the loss on the prior latents.
pub fn train_sd_dreambooth(
    cfg: &DreamboothConfig,
    io: &AdaptIo<'_>,
) -> Result<GeneratorFile, StageError> {
    io.start(cfg)?;
    let (seed, device, progress, cancel) = (io.seed, io.device, io.progress, io.cancel);
    let prepared = Prepared::new(io.base_dir, io.train_dir, cfg.classes.as_deref())?;
    let sd = StableDiffusion::load(&prepared.base.folder.root, &device.device)?;
    let ad = io.autodiff();
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
        let mut loop_cfg = prepared.loop_config(cfg.loop_params(), &phase, &stream, seed);
        loop_cfg.prior = Some((&prior, cfg.prior_weight));
        let trained = train_loop(model, &loop_cfg, &examples, &ad, progress, cancel)?;
        write_bytes(
            &io.out_dir.join(dreambooth_unet(class)),
            &module_bytes(&trained.model.unet, "unet")?,
        )?;
        if cfg.train_text_encoder {
            write_bytes(
                &io.out_dir.join(dreambooth_text_encoder(class)),
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
    prepared.finish(io.out_dir, spec, dreambooth_unet, cfg.steps, losses)
}
