//! `train.finetune`: the whole U-Net of a base generator fine-tuned on class prompts.

use crate::StageError;
use crate::generators::artifact::GeneratorFile;
use crate::generators::latent::config::{FinetuneConfig, LatentMethod};
use crate::generators::latent::files::{AUTOENCODER_WEIGHTS, TEXT_WEIGHTS, UNET_WEIGHTS};
use crate::generators::latent::files::{copy_file, write_bytes};
use crate::weights::module_bytes;

use super::adaptation::{AdaptIo, Adaptation, finish};

/// Fine-tunes the whole U-Net of the base generator in `io.base_dir` on the classes of
/// `io.train_dir` with class prompts (text encoder frozen) and writes a self-contained
/// latent generator into the empty `io.out_dir`.
pub fn train_finetune(cfg: &FinetuneConfig, io: &AdaptIo<'_>) -> Result<GeneratorFile, StageError> {
    io.start(cfg)?;
    let base = Adaptation::prepare(cfg, io)?;
    let trained = base.train(base.frozen_text_model(io)?, cfg, "finetune", io)?;
    copy_file(io.base_dir, io.out_dir, AUTOENCODER_WEIGHTS)?;
    copy_file(io.base_dir, io.out_dir, TEXT_WEIGHTS)?;
    write_bytes(
        &io.out_dir.join(UNET_WEIGHTS),
        &module_bytes(&trained.model.unet, "unet")?,
    )?;
    let mut spec = base.spec;
    spec.method = LatentMethod::Finetune;
    finish(
        io.out_dir,
        spec,
        base.classes,
        &base.counts,
        |_| UNET_WEIGHTS.to_owned(),
        cfg.steps,
        trained.series("finetune"),
    )
}
