//! The phantom: the embedded default data set.
//!
//! A deterministic, seeded generator of chest-radiograph-like grayscale images for five
//! classes (healthy and four kinds of pneumonia), so a new user can run a whole study
//! without downloading data. Each patient gets their own anatomy and findings; each of
//! their images is a separate "film" with its own positioning, exposure and noise.
//!
//! Output depends only on the config and the seed: every random stream is keyed by
//! (seed, class, patient, image, purpose), and PNG settings are pinned. Changing what
//! the generator draws must bump [`crate::PHANTOM_VERSION`].

mod anatomy;
mod config;
mod film;
mod findings;
mod lung;
mod png_file;
mod raster;
mod rng;
mod skeleton;

use std::fs;
use std::path::Path;
use std::time::Instant;

pub use config::{MAX_SIZE, MIN_SIZE, PHANTOM_CLASSES, PhantomConfig};

use crate::StageError;
use crate::data::out_dir::start_stage;
use crate::image_set::{IMAGE_SET_FORMAT, IMAGES_DIR, ImageRecord, ImageSetManifest};
use anatomy::Anatomy;
use config::Class;
use film::{FilmBase, Shot};
use rng::PatientKey;

/// Generates the phantom image set into `out_dir`, which must exist and be empty, and
/// returns its manifest (also written to `out_dir/images.json`).
///
/// Patients are numbered per class from 1 (`phantom-bacterial-0007`) and their images
/// from 1 (`images/bacterial/phantom-bacterial-0007-1.png`); the last patient of a
/// class may have fewer than `images_per_patient` images.
pub fn generate_phantom(
    cfg: &PhantomConfig,
    seed: u64,
    out_dir: &Path,
) -> Result<ImageSetManifest, StageError> {
    start_stage(cfg, out_dir)?;
    let started = Instant::now();
    let mut images = Vec::new();
    for (name, &count) in &cfg.classes {
        let class = Class::from_name(name)
            .ok_or_else(|| StageError::InvalidConfig(format!("unknown class {name:?}")))?;
        let class_dir = out_dir.join(IMAGES_DIR).join(name);
        fs::create_dir_all(&class_dir).map_err(|source| StageError::CreateDir {
            path: class_dir.clone(),
            source,
        })?;
        let per_patient = cfg.images_per_patient;
        for patient in 1..=count.div_ceil(per_patient) {
            let key = PatientKey {
                seed,
                class: name,
                patient,
            };
            let films = per_patient.min(count - (patient - 1) * per_patient);
            let patient_id = format!("phantom-{name}-{patient:04}");
            for (image, pixels) in (1..).zip(render_patient(class, &key, cfg.size, films)) {
                let file = format!("{patient_id}-{image}.png");
                png_file::write_gray_png(&class_dir.join(&file), cfg.size, &pixels)?;
                images.push(ImageRecord {
                    path: format!("{IMAGES_DIR}/{name}/{file}"),
                    label: name.clone(),
                    patient_id: patient_id.clone(),
                    source: None,
                    split: None,
                });
            }
        }
    }
    let manifest = ImageSetManifest {
        format: IMAGE_SET_FORMAT,
        classes: cfg.classes.keys().cloned().collect(),
        width: cfg.size,
        height: cfg.size,
        images,
    };
    manifest.write(out_dir)?;
    tracing::info!(
        images = manifest.images.len(),
        size = cfg.size,
        seed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "generated phantom image set"
    );
    Ok(manifest)
}

/// Renders `films` images of one patient: anatomy and findings once, then one film each.
fn render_patient(class: Class, key: &PatientKey, size: u32, films: u32) -> Vec<Vec<u8>> {
    let anatomy = Anatomy::sample(&mut key.rng("anatomy"));
    let mut body = anatomy.render(size as usize, &mut key.rng("anatomy-render"));
    let fill = findings::draw_findings(class, &anatomy.lungs, &body, &mut key.rng("findings"));
    let mut air = body.air;
    air.mul(&fill);
    body.density.add_scaled(&air, 1.0);
    let base = FilmBase::sample(&mut key.rng("film"));
    (1..=films)
        .map(|image| {
            let shot = Shot::sample(&base, &mut key.image_rng(image, "shot"));
            shot.expose(&body.density, &mut key.image_rng(image, "grain"))
        })
        .collect()
}
