//! `train.dreambooth`: per class, the base draws `prior_images` latents for the class
//! prompt (the prior-preservation set); then a copy of the base U-Net (and, with
//! `train_text_encoder`, of the text encoder) is fine-tuned on the class's images with the
//! instance prompt, plus `prior_weight` × the loss on the prior set.

use burn::module::Module;

use super::LatentProgress;
use super::config::{DreamboothConfig, LatentMethod};
use super::files::{AUTOENCODER_WEIGHTS, TEXT_WEIGHTS, UNET_WEIGHTS, copy_file, write_bytes};
use super::files::{dreambooth_text_encoder, dreambooth_unet};
use super::model::{Guided, load_model, prompt_tokens};
use super::stages::{AdaptIo, finish, read_base, to_examples};
use super::train::{Example, LoopConfig, train_loop};
use crate::StageError;
use crate::generators::Sampler;
use crate::generators::ddpm::sample::{DrawSpec, draw};
use crate::generators::ddpm::schedule::Schedule;
use crate::generators::images::{load_by_class, wanted_classes};
use crate::weights::module_bytes;

/// Trains one DreamBooth model per wanted class of `io.train_dir` from the base generator
/// in `io.base_dir` and writes them, with the base's autoencoder and text encoder, into
/// the empty `io.out_dir`.
pub fn train_dreambooth(
    cfg: &DreamboothConfig,
    io: &AdaptIo<'_>,
) -> Result<crate::generators::GeneratorFile, StageError> {
    io.start(cfg)?;
    let (base_dir, out_dir, seed, device) = (io.base_dir, io.out_dir, io.seed, io.device);
    let (progress, cancel) = (io.progress, io.cancel);
    let (mut spec, ae) = read_base(base_dir, &device.device)?;
    let (classes, groups) = load_by_class(io.train_dir, spec.autoencoder.image_size)?;
    let wanted = wanted_classes(&classes, cfg.classes.as_deref())?;
    let (text_path, unet_path) = (base_dir.join(TEXT_WEIGHTS), base_dir.join(UNET_WEIGHTS));
    let base = load_model(&spec, &text_path, &unet_path, &device.device)?;
    let schedule = Schedule::new(spec.schedule, spec.timesteps);
    let (channels, side) = spec.autoencoder.latent_shape();
    spec.prompts.clear();
    spec.method = LatentMethod::Dreambooth;
    spec.text_per_class = cfg.train_text_encoder;
    let mut counts = vec![0; classes.len()];
    let mut losses = Vec::new();
    let ad = io.autodiff();
    for &index in &wanted {
        let class = &classes[index];
        let instance_prompt = cfg.instance_prompt.replace("{class}", class);
        let class_tokens = prompt_tokens(&spec.text, &cfg.class_prompt.replace("{class}", class))?;
        let instance_tokens = prompt_tokens(&spec.text, &instance_prompt)?;
        // The prior set: what the base makes of the class prompt, as latents.
        let guided = Guided::new(&base, &class_tokens, cfg.prior_guidance);
        let draw_spec = DrawSpec {
            schedule: &schedule,
            sampler: Sampler::Ddim,
            steps: cfg.prior_steps,
            size: side,
            channels,
            clip: false,
            seed,
            stream: "dreambooth-prior",
            class_index: index,
            count: cfg.prior_images,
            batch: cfg.prior_images.min(16),
        };
        let total = cfg.prior_images;
        let prior_latents = draw(
            &guided,
            &draw_spec,
            &device.device,
            &mut |done| {
                progress(LatentProgress::Prior {
                    class: class.clone(),
                    done,
                    total,
                })
            },
            cancel,
        )?;
        let prior: Vec<Example> = prior_latents
            .into_iter()
            .map(|latent| Example {
                latent,
                mirrored: None,
                tokens: class_tokens.clone(),
            })
            .collect();
        let examples = to_examples(
            &ae,
            &spec,
            &groups[index].rows,
            &instance_tokens,
            cfg.hflip,
            &device.device,
        )?;
        let mut model = load_model(&spec, &text_path, &unet_path, &ad)?;
        if !cfg.train_text_encoder {
            model.text = model.text.no_grad();
        }
        let phase = format!("dreambooth {class}");
        let stream = format!("dreambooth-{index}");
        let mut loop_cfg = LoopConfig::new(
            &phase,
            &stream,
            seed,
            cfg.loop_params(),
            &schedule,
            (channels, side),
        );
        loop_cfg.prior = Some((&prior, cfg.prior_weight));
        let trained = train_loop(model, &loop_cfg, &examples, &ad, progress, cancel)?;
        let model = &trained.model;
        write_bytes(
            &out_dir.join(dreambooth_unet(class)),
            &module_bytes(&model.unet, "unet")?,
        )?;
        if cfg.train_text_encoder {
            write_bytes(
                &out_dir.join(dreambooth_text_encoder(class)),
                &module_bytes(&model.text, "text encoder")?,
            )?;
        }
        counts[index] = groups[index].rows.len();
        spec.prompts.insert(class.clone(), instance_prompt);
        losses.extend(trained.series(&phase));
    }
    copy_file(base_dir, out_dir, AUTOENCODER_WEIGHTS)?;
    if !cfg.train_text_encoder {
        copy_file(base_dir, out_dir, TEXT_WEIGHTS)?;
    }
    finish(
        out_dir,
        spec,
        classes,
        &counts,
        dreambooth_unet,
        cfg.steps,
        losses,
    )
}
