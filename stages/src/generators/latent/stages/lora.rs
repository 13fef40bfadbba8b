//! `train.lora`: LoRA adapters on a base generator's U-Net, everything else frozen.

use rand::RngCore;

use crate::StageError;
use crate::generators::artifact::GeneratorFile;
use crate::generators::latent::config::{LatentMethod, LoraConfig};
use crate::generators::latent::files::{LORA_WEIGHTS, base_digest, write_bytes};
use crate::generators::latent::lora;
use crate::rng::keyed_rng;

use super::adaptation::{AdaptIo, Adaptation, finish};

/// Trains LoRA adapters on the base generator's U-Net (everything else frozen) and
/// writes only the adapters, with the base's digest, into the empty `io.out_dir`.
pub fn train_lora(cfg: &LoraConfig, io: &AdaptIo<'_>) -> Result<GeneratorFile, StageError> {
    io.start(cfg)?;
    let finetune = cfg.finetune();
    let base = Adaptation::prepare(&finetune, io)?;
    let mut model = base.frozen_text_model(io)?;
    let lora_seed = keyed_rng(io.seed, "lora-init", &[]).next_u64();
    model.unet = lora::apply(model.unet, &cfg.lora(), 1.0, lora_seed)?;
    let trained = base.train(model, &finetune, "lora", io)?;
    write_bytes(
        &io.out_dir.join(LORA_WEIGHTS),
        &lora::adapter_bytes(&trained.model.unet)?,
    )?;
    let mut spec = base.spec;
    spec.method = LatentMethod::Lora;
    spec.lora = Some(cfg.lora());
    spec.base_digest = Some(base_digest(io.base_dir)?);
    finish(
        io.out_dir,
        spec,
        base.classes,
        &base.counts,
        |_| LORA_WEIGHTS.to_owned(),
        cfg.steps,
        trained.series("lora"),
    )
}
