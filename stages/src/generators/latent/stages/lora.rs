//! `train.lora`: LoRA adapters on a base generator's U-Net, everything else frozen.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use burn::module::Module;
use rand::RngCore;

use crate::StageError;
use crate::backend::SelectedDevice;
use crate::data::out_dir::ensure_empty;
use crate::generators::artifact::GeneratorFile;
use crate::generators::latent::config::{LatentMethod, LoraConfig};
use crate::generators::latent::files::{LORA_WEIGHTS, TEXT_WEIGHTS, UNET_WEIGHTS};
use crate::generators::latent::files::{base_digest, write_bytes};
use crate::generators::latent::model::load_model;
use crate::generators::latent::{LatentProgress, lora};
use crate::rng::keyed_rng;

use super::adaptation::{Adaptation, finish};

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
