//! Drawing images from a generator. Every image takes its latent and its noise maps from
//! streams keyed by its own key (class and image index when sampling), so image i is the
//! same whether 100 or 1,000 are drawn, in whatever batches.

use std::sync::atomic::AtomicBool;

use burn::tensor::{Device, Tensor, TensorData};

use super::generator::{GenInputs, Generator};
use crate::StageError;
use crate::generators::images::draw_rows;
use crate::rng::{keyed_rng, normal};

/// Keys the noise maps' streams apart from the latents' (part appended to an image's key).
const NOISE_TAG: u64 = 1 << 32;

/// The generator's inputs for one batch: image j has class `classes[j]` and draws from
/// the streams (seed, `purpose`, `keys[j]`) for z and (…, `keys[j]` + layer tag) for noise.
pub(crate) fn gen_inputs(
    g: &Generator,
    seed: u64,
    purpose: &str,
    keys: &[Vec<u64>],
    classes: &[usize],
    device: &Device,
) -> GenInputs {
    let b = keys.len();
    let noise = g
        .noise_sides()
        .into_iter()
        .enumerate()
        .map(|(layer, side)| {
            let mut values = Vec::with_capacity(b * side * side);
            for key in keys {
                let mut parts = key.clone();
                parts.push(NOISE_TAG + layer as u64);
                let mut rng = keyed_rng(seed, purpose, &parts);
                values.extend((0..side * side).map(|_| normal(&mut rng)));
            }
            Tensor::from_data(TensorData::new(values, [b, 1, side, side]), device)
        })
        .collect();
    GenInputs {
        z: latents(g, seed, purpose, keys, device),
        labels: one_hot(g, classes, device),
        noise,
    }
}

/// z [b, z_dim], image j's from the stream (seed, `purpose`, `keys[j]`).
fn latents(
    g: &Generator,
    seed: u64,
    purpose: &str,
    keys: &[Vec<u64>],
    device: &Device,
) -> Tensor<2> {
    let z_dim = g.z_dim();
    let mut z = Vec::with_capacity(keys.len() * z_dim);
    for key in keys {
        let mut rng = keyed_rng(seed, purpose, key);
        z.extend((0..z_dim).map(|_| normal(&mut rng)));
    }
    Tensor::from_data(TensorData::new(z, [keys.len(), z_dim]), device)
}

fn one_hot(g: &Generator, classes: &[usize], device: &Device) -> Tensor<2> {
    let n_classes = g.num_classes();
    let mut labels = vec![0.0f32; classes.len() * n_classes];
    for (j, &class) in classes.iter().enumerate() {
        labels[j * n_classes + class] = 1.0;
    }
    Tensor::from_data(TensorData::new(labels, [classes.len(), n_classes]), device)
}

/// Latents averaged into a class's centre w for truncation. StyleGAN keeps w_avg as a
/// running mean over training; a fixed draw makes the centre a function of the weights
/// alone, so generators trained before truncation existed can be truncated too.
const CENTRE_DRAWS: usize = 2048;

/// The class's centre w [1, w_dim]: the mean of w over [`CENTRE_DRAWS`] latents from
/// their own stream.
fn class_centre(g: &Generator, spec: &DrawSpec<'_>, device: &Device) -> Tensor<2> {
    let keys: Vec<Vec<u64>> = (0..CENTRE_DRAWS as u64)
        .map(|i| vec![spec.class_index as u64, i])
        .collect();
    let purpose = format!("{}-truncation-centre", spec.stream);
    let z = latents(g, spec.seed, &purpose, &keys, device);
    let labels = one_hot(g, &vec![spec.class_index; CENTRE_DRAWS], device);
    g.map(z, labels).mean_dim(0)
}

/// What to draw: images of one class, keyed by (class, image index) under `stream`.
pub(crate) struct DrawSpec<'a> {
    pub seed: u64,
    pub stream: &'a str,
    pub class_index: usize,
    pub size: usize,
    /// The truncation ψ (1 = none): w ← w_c + ψ·(w − w_c) around the class's centre.
    pub truncation: f64,
    /// Images `0..count` are drawn, `batch` at a time.
    pub count: usize,
    pub batch: usize,
}

/// Draws images `0..spec.count` as rows of size² values in [−1, 1], `spec.batch` at a
/// time, calling `progress(done)` after each batch.
pub(crate) fn draw(
    g: &Generator,
    spec: &DrawSpec<'_>,
    device: &Device,
    progress: &mut dyn FnMut(usize),
    cancel: &AtomicBool,
) -> Result<Vec<Vec<f32>>, StageError> {
    let row_len = spec.size * spec.size;
    let centre = (spec.truncation != 1.0).then(|| class_centre(g, spec, device));
    draw_rows(spec.count, spec.batch, row_len, progress, cancel, |chunk| {
        let keys: Vec<Vec<u64>> = chunk
            .iter()
            .map(|&i| vec![spec.class_index as u64, i as u64])
            .collect();
        let classes = vec![spec.class_index; chunk.len()];
        let inputs = gen_inputs(g, spec.seed, spec.stream, &keys, &classes, device);
        let images = match &centre {
            None => g.forward(inputs),
            Some(centre) => {
                let w = g.map(inputs.z, inputs.labels);
                let centre = centre.clone().expand(w.dims());
                let w = centre.clone() + (w - centre).mul_scalar(spec.truncation);
                g.synthesis(w, inputs.noise)
            }
        };
        Ok(images.clamp(-1.0, 1.0))
    })
}
