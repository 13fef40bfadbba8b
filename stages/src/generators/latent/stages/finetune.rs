//! `train.finetune`: the whole U-Net of a base generator fine-tuned on class prompts.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use burn::module::Module;

use crate::StageError;
use crate::backend::SelectedDevice;
use crate::data::out_dir::ensure_empty;
use crate::generators::artifact::GeneratorFile;
use crate::generators::latent::LatentProgress;
use crate::generators::latent::config::{FinetuneConfig, LatentMethod};
use crate::generators::latent::files::{AUTOENCODER_WEIGHTS, TEXT_WEIGHTS, UNET_WEIGHTS};
use crate::generators::latent::files::{copy_file, write_bytes};
use crate::generators::latent::model::load_model;
use crate::weights::module_bytes;

use super::adaptation::{Adaptation, finish};

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
