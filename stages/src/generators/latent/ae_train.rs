//! `train.autoencoder`: reconstruction MSE + `kl_weight`·KL, Adam, seeded batches and
//! posterior noise; then the latent scale factor and the reconstruction quality.

use std::path::Path;
use std::sync::atomic::Ordering;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngCore;

use super::autoencoder::{Autoencoder, kl_per_element};
use super::config::{AutoencoderConfig, AutoencoderSpec};
use super::files::{
    AUTOENCODER_FORMAT, AUTOENCODER_WEIGHTS, AutoencoderFile, Reconstruction, write_bytes,
};
use super::{LOSS_WINDOW, LatentProgress, LossWindow, flip_rows, scalar};
use crate::generators::images::load_by_class;
use crate::init::{InitPolicy, SeededInit};
use crate::rng::{EpochOrder, keyed_rng, normal, unit};
use crate::weights::{load_module, module_bytes};
use crate::{StageError, StageIo};

/// Trains the autoencoder on every image of the image sets in `train_dirs` and writes
/// `autoencoder.json` and `autoencoder.safetensors` into the empty `out_dir`. With
/// `init`, the weights start from that safetensors file. Same seed and device ⇒ same
/// bytes.
pub fn train_autoencoder(
    cfg: &AutoencoderConfig,
    seed: u64,
    train_dirs: &[&Path],
    init: Option<&Path>,
    io: &StageIo<'_, LatentProgress>,
) -> Result<AutoencoderFile, StageError> {
    io.start(cfg)?;
    let size = cfg.image_size as usize;
    let mut rows = Vec::new();
    for dir in train_dirs {
        let (_, groups) = load_by_class(dir, cfg.image_size)?;
        rows.extend(groups.into_iter().flat_map(|g| g.rows));
    }
    if rows.is_empty() {
        return Err(StageError::InvalidConfig(
            "the autoencoder has no training images".to_owned(),
        ));
    }
    let spec = cfg.spec();
    let ad = io.device.device.clone().autodiff();
    let init_seed = keyed_rng(seed, "ae-init", &[]).next_u64();
    let mut model =
        Autoencoder::new(&spec, &ad).map(&mut SeededInit::new(init_seed, InitPolicy::TorchDefault));
    if let Some(path) = init {
        model = load_module(model, path)?;
    }
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut epochs = EpochOrder::new(rows.len());
    let mut window = LossWindow::default();
    for step in 0..cfg.steps {
        if io.cancel.load(Ordering::Relaxed) {
            return Err(StageError::Cancelled);
        }
        let batch: Vec<&[f32]> = epochs
            .next_batch(cfg.batch_size, || {
                keyed_rng(seed, "ae-order", &[step as u64])
            })
            .into_iter()
            .map(|i| rows[i].as_slice())
            .collect();
        let mut rng = keyed_rng(seed, "ae-step", &[step as u64]);
        let flips: Vec<bool> = batch
            .iter()
            .map(|_| cfg.hflip && unit(&mut rng) < 0.5)
            .collect();
        let x = images_tensor(&flip_rows(&batch, &flips, size), size, &ad);
        let (mean, logvar) = model.encode(x.clone());
        let dims = mean.dims();
        let eps: Vec<f32> = (0..dims.iter().product::<usize>())
            .map(|_| normal(&mut rng))
            .collect();
        let eps = Tensor::<4>::from_data(TensorData::new(eps, dims), &ad);
        let z = mean.clone() + logvar.clone().mul_scalar(0.5).exp() * eps;
        let recon = model.decode(z);
        let loss = (recon - x).powi_scalar(2).mean()
            + kl_per_element(mean, logvar).mul_scalar(cfg.kl_weight);
        let value = scalar(&loss)?;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
        window.push(value, step + 1 == cfg.steps);
        io.report(LatentProgress::Step {
            phase: "autoencoder".to_owned(),
            step: step + 1,
            steps: cfg.steps,
            loss: value,
        });
    }
    let model = model.valid();
    let (scale_factor, reconstruction) = evaluate(&model, &rows, size, &io.device.device)?;
    write_bytes(
        &io.out_dir.join(AUTOENCODER_WEIGHTS),
        &module_bytes(&model, "autoencoder")?,
    )?;
    let file = AutoencoderFile {
        format: AUTOENCODER_FORMAT,
        spec,
        scale_factor,
        steps: cfg.steps,
        loss_every: LOSS_WINDOW,
        losses: window.into_means(),
        reconstruction,
    };
    file.write(io.out_dir)?;
    Ok(file)
}

/// Loads a trained autoencoder from its artifact folder.
pub fn load_autoencoder(
    dir: &Path,
    device: &Device,
) -> Result<(AutoencoderFile, Autoencoder), StageError> {
    let file = AutoencoderFile::read(dir)?;
    let model = load_module(
        Autoencoder::new(&file.spec, device),
        &dir.join(AUTOENCODER_WEIGHTS),
    )?;
    Ok((file, model))
}

pub(crate) fn images_tensor(rows: &[Vec<f32>], size: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), 1, size, size]), device)
}

/// Posterior means of `rows` (pixels in [−1, 1]), `BATCH` at a time, as flat rows.
pub(crate) fn encode_means(
    model: &Autoencoder,
    rows: &[Vec<f32>],
    spec: &AutoencoderSpec,
    device: &Device,
) -> Result<Vec<Vec<f32>>, StageError> {
    let size = spec.image_size as usize;
    let per = spec.latent_channels * (spec.latent_size() as usize).pow(2);
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(BATCH) {
        let (mean, _) = model.encode(images_tensor(chunk, size, device));
        let values = mean
            .try_into_vec_as::<f32>()
            .map_err(|err| StageError::Backend(format!("read latents from the device: {err}")))?;
        out.extend(values.chunks_exact(per).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// Decodes latent rows into pixel rows clipped to [−1, 1].
pub(crate) fn decode_rows(
    model: &Autoencoder,
    latents: &[Vec<f32>],
    spec: &AutoencoderSpec,
    device: &Device,
) -> Result<Vec<Vec<f32>>, StageError> {
    let (side, size) = (spec.latent_size() as usize, spec.image_size as usize);
    let mut out = Vec::with_capacity(latents.len());
    for chunk in latents.chunks(BATCH) {
        let values: Vec<f32> = chunk.iter().flatten().copied().collect();
        let z = Tensor::<4>::from_data(
            TensorData::new(values, [chunk.len(), spec.latent_channels, side, side]),
            device,
        );
        let images = model
            .decode(z)
            .clamp(-1.0, 1.0)
            .try_into_vec_as::<f32>()
            .map_err(|err| StageError::Backend(format!("read images from the device: {err}")))?;
        out.extend(images.chunks_exact(size * size).map(<[f32]>::to_vec));
    }
    Ok(out)
}

const BATCH: usize = 32;

/// The latent scale factor and the reconstruction quality over `rows`.
fn evaluate(
    model: &Autoencoder,
    rows: &[Vec<f32>],
    size: usize,
    device: &Device,
) -> Result<(f64, Reconstruction), StageError> {
    let mut sum = 0.0f64;
    let mut sum_sq = 0.0f64;
    let mut count = 0usize;
    let (mut se, mut ae) = (0.0f64, 0.0f64);
    for chunk in rows.chunks(BATCH) {
        let (mean, _) = model.encode(images_tensor(chunk, size, device));
        let latents = mean
            .clone()
            .try_into_vec_as::<f32>()
            .map_err(|err| StageError::Backend(format!("read latents from the device: {err}")))?;
        for &v in &latents {
            sum += f64::from(v);
            sum_sq += f64::from(v) * f64::from(v);
        }
        count += latents.len();
        let recon = model
            .decode(mean)
            .clamp(-1.0, 1.0)
            .try_into_vec_as::<f32>()
            .map_err(|err| StageError::Backend(format!("read images from the device: {err}")))?;
        for (r, x) in recon.iter().zip(chunk.iter().flatten()) {
            // Both in [−1, 1]; errors on the [0, 1] scale are half as large.
            let d = f64::from(r - x) / 2.0;
            se += d * d;
            ae += d.abs();
        }
    }
    let n = (rows.len() * size * size) as f64;
    let mean = sum / count as f64;
    let std = (sum_sq / count as f64 - mean * mean).max(0.0).sqrt();
    let scale = if std > 1e-6 { 1.0 / std } else { 1.0 };
    let mse = se / n;
    Ok((
        scale,
        Reconstruction {
            images: rows.len(),
            mse,
            mae: ae / n,
            psnr: 10.0 * (1.0 / mse.max(1e-12)).log10(),
        },
    ))
}
