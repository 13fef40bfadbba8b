//! Sampling a latent generator: the class's prompt (or the `sample` stage's), guided
//! DDIM/DDPM in latent space from noise keyed by (seed, class, image), then the decoder.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use burn::tensor::Device;

use super::autoencoder::Autoencoder;
use super::config::{LatentMethod, LatentSpec};
use super::files::{AUTOENCODER_WEIGHTS, LORA_WEIGHTS, TEXT_WEIGHTS, UNET_WEIGHTS, base_digest};
use super::model::{Guided, LatentDiffusion, load_model, prompt_tokens, text_weights};
use super::{ae_train::decode_rows, lora};
use crate::StageError;
use crate::generators::SampleConfig;
use crate::generators::artifact::Checkpoint;
use crate::generators::ddpm::sample::{DrawSpec, draw};
use crate::generators::ddpm::schedule::Schedule;
use crate::weights::load_module;

/// The networks of one latent generator, ready to draw.
pub(crate) struct LatentSampler<'a> {
    spec: &'a LatentSpec,
    dir: &'a Path,
    /// Where the autoencoder, text encoder and U-Net come from: the generator itself,
    /// or for LoRA its base.
    weights_dir: PathBuf,
    autoencoder: Autoencoder,
    schedule: Schedule,
}

impl<'a> LatentSampler<'a> {
    pub fn new(
        spec: &'a LatentSpec,
        dir: &'a Path,
        base_dir: Option<&Path>,
        device: &Device,
    ) -> Result<Self, StageError> {
        let weights_dir = if spec.method == LatentMethod::Lora {
            let Some(base) = base_dir else {
                return Err(StageError::InvalidConfig(
                    "a LoRA generator holds adapters only: connect its base generator to \
                     the `base` input of `sample`"
                        .to_owned(),
                ));
            };
            let found = base_digest(base)?;
            if spec.base_digest.as_deref() != Some(found.as_str()) {
                return Err(StageError::InvalidConfig(format!(
                    "the `base` input (digest {found}) is not the base this LoRA was trained \
                     on (digest {})",
                    spec.base_digest.as_deref().unwrap_or("none")
                )));
            }
            base.to_owned()
        } else {
            dir.to_owned()
        };
        let autoencoder = load_module(
            Autoencoder::new(&spec.autoencoder, device),
            &weights_dir.join(AUTOENCODER_WEIGHTS),
        )?;
        Ok(Self {
            spec,
            dir,
            weights_dir,
            autoencoder,
            schedule: Schedule::new(spec.schedule, spec.timesteps),
        })
    }

    /// The model that draws `checkpoint`'s class (`lora_scale` for LoRA: default 1).
    pub fn model(
        &self,
        checkpoint: &Checkpoint,
        lora_scale: Option<f64>,
        device: &Device,
    ) -> Result<LatentDiffusion, StageError> {
        let spec = self.spec;
        if spec.method == LatentMethod::Lora {
            let mut model = load_model(
                spec,
                &self.weights_dir.join(TEXT_WEIGHTS),
                &self.weights_dir.join(UNET_WEIGHTS),
                device,
            )?;
            let lora_spec = spec.lora.as_ref().ok_or_else(|| {
                StageError::InvalidConfig("the LoRA generator lacks its `lora` shape".to_owned())
            })?;
            let unet = lora::apply(model.unet, lora_spec, lora_scale.unwrap_or(1.0), 0)?;
            model.unet = lora::load_adapters(unet, &self.dir.join(LORA_WEIGHTS))?;
            return Ok(model);
        }
        if lora_scale.is_some() {
            return Err(StageError::InvalidConfig(
                "lora_scale applies to train.lora generators only (merge.lora fixes the scale)"
                    .to_owned(),
            ));
        }
        load_model(
            spec,
            &self.dir.join(text_weights(spec, &checkpoint.class)),
            &self.dir.join(&checkpoint.weights),
            device,
        )
    }

    /// Images `0..cfg.n` of class `class` (index `class_index`) as pixel rows.
    #[allow(clippy::too_many_arguments)] // Each argument is a distinct, named input.
    pub fn draw(
        &self,
        model: &LatentDiffusion,
        class: &str,
        class_index: usize,
        cfg: &SampleConfig,
        seed: u64,
        device: &Device,
        progress: &mut dyn FnMut(usize),
        cancel: &AtomicBool,
    ) -> Result<Vec<Vec<f32>>, StageError> {
        let spec = self.spec;
        let prompt = match &cfg.prompt {
            Some(template) => template.replace("{class}", class),
            None => spec.prompts.get(class).cloned().ok_or_else(|| {
                StageError::InvalidConfig(format!("the generator has no prompt for {class:?}"))
            })?,
        };
        let tokens = prompt_tokens(&spec.text, &prompt)?;
        let guided = Guided::new(
            model,
            &tokens,
            cfg.guidance.unwrap_or(super::config::default_guidance()),
        );
        let ae = &spec.autoencoder;
        let draw_spec = DrawSpec {
            schedule: &self.schedule,
            sampler: cfg.sampler(),
            steps: cfg.steps_for(self.schedule.steps())?,
            size: ae.latent_size() as usize,
            channels: ae.latent_channels,
            clip: false,
            seed,
            stream: "sample",
            class_index,
            count: cfg.n,
            batch: cfg.batch_size,
        };
        let latents = draw(&guided, &draw_spec, device, progress, cancel)?;
        let inv = (1.0 / spec.scale_factor) as f32;
        let latents: Vec<Vec<f32>> = latents
            .into_iter()
            .map(|row| row.into_iter().map(|v| v * inv).collect())
            .collect();
        decode_rows(&self.autoencoder, &latents, ae, device)
    }
}
