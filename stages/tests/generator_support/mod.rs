//! Fixtures for the generator tests: phantom training sets in temp dirs, the bytes of a
//! sampled image set, an adaptation's inputs.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use augflow_stages::StageIo;
use augflow_stages::backend::{BackendChoice, SelectedDevice, select_device};
use augflow_stages::generators::latent::{AdaptIo, LatentProgress};
use augflow_stages::generators::{SampleConfig, Sampler, TrainFn, TrainInputs, sample_generator};
use augflow_stages::image_set::ImageSetManifest;
use augflow_stages::phantom::{PhantomConfig, generate_phantom};

/// Writes a 32 px phantom set with `classes` (name, images) into `dir`.
pub fn phantom_set(dir: &Path, seed: u64, classes: &[(&str, u32)], images_per_patient: u32) {
    let cfg = PhantomConfig {
        size: 32,
        classes: classes
            .iter()
            .map(|&(class, n)| (class.to_owned(), n))
            .collect(),
        images_per_patient,
    };
    generate_phantom(&cfg, seed, dir).unwrap();
}

/// A temp folder holding a training set `data` and the empty folder `out`.
pub struct Scratch {
    pub root: tempfile::TempDir,
    pub data: PathBuf,
    pub out: PathBuf,
}

impl Scratch {
    /// `data` holds the phantom set of `classes`, two images per patient.
    pub fn with_classes(classes: &[(&str, u32)]) -> Self {
        Self::new(classes, 2)
    }

    /// `data` holds three healthy images, one per patient: too few for a holdout.
    pub fn three_images() -> Self {
        Self::new(&[("healthy", 3)], 1)
    }

    /// What `train` (a pixel-space family's stage function) says on this set, seed 1,
    /// CPU; it must fail.
    pub fn train_error<C, P>(&self, cfg: &C, train: TrainFn<C, P>) -> String {
        let device = select_device(BackendChoice::Cpu).unwrap();
        let never = AtomicBool::new(false);
        train(
            cfg,
            1,
            TrainInputs::images(&self.data),
            &StageIo::without_progress(&self.out, &device, &never),
        )
        .unwrap_err()
        .to_string()
    }

    fn new(classes: &[(&str, u32)], images_per_patient: u32) -> Self {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        fs::create_dir(&data).unwrap();
        phantom_set(&data, 5, classes, images_per_patient);
        let out = root.path().join("out");
        fs::create_dir(&out).unwrap();
        Self { root, data, out }
    }
}

/// (path, bytes) of every image of the set in `dir`, in manifest order.
pub fn file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let manifest = ImageSetManifest::read(dir).unwrap();
    manifest
        .images
        .iter()
        .map(|r| (r.path.clone(), fs::read(dir.join(&r.path)).unwrap()))
        .collect()
}

/// Checks the sampled set in `dir`: `n` images of each of `classes`, `size` px, every
/// one marked `synthetic:<source>`. Returns its manifest.
pub fn assert_n_per_class(
    dir: &Path,
    classes: &[&str],
    n: usize,
    size: u32,
    source: &str,
) -> ImageSetManifest {
    let manifest = ImageSetManifest::read(dir).unwrap();
    let counts = manifest.counts_per_class();
    for class in classes {
        assert_eq!(counts[*class], n, "{source}: {class}");
    }
    assert_eq!((manifest.width, manifest.height), (size, size));
    let want = format!("synthetic:{source}");
    assert!(
        manifest
            .images
            .iter()
            .all(|r| r.source.as_deref() == Some(want.as_str()))
    );
    manifest
}

/// Samples the two-class (healthy, bacterial) generator in `model_dir` into folders
/// below `root` and checks N images per class at 32 px, marked `synthetic:<family>`;
/// the same seed gives the same bytes, and more images leave the first ones unchanged.
pub fn assert_samples_n_per_class(
    model_dir: &Path,
    root: &Path,
    sampler: Option<Sampler>,
    steps: Option<usize>,
    family: &str,
) {
    let device = select_device(BackendChoice::Cpu).unwrap();
    let never = AtomicBool::new(false);
    let sample = |n: usize, out: &str| {
        let dir = root.join(out);
        fs::create_dir(&dir).unwrap();
        let cfg = SampleConfig {
            batch_size: 2,
            sampler,
            steps,
            ..SampleConfig::new(n)
        };
        sample_generator(
            model_dir,
            &cfg,
            9,
            &StageIo::without_progress(&dir, &device, &never),
        )
        .unwrap();
        dir
    };
    let three = sample(3, "three");
    let manifest = assert_n_per_class(&three, &["healthy", "bacterial"], 3, 32, family);
    assert_eq!(manifest.images.len(), 6);
    let image = image::open(three.join(&manifest.images[0].path)).unwrap();
    assert_eq!((image.width(), image.height()), (32, 32));

    // Same seed: same bytes; more images: the first three are unchanged.
    let five = sample(5, "five");
    let (a, b) = (file_bytes(&three), file_bytes(&five));
    assert_eq!(b.len(), 10);
    for entry in &a {
        assert!(b.contains(entry), "{} changed when N grew", entry.0);
    }
    let again = sample(3, "again");
    assert_eq!(file_bytes(&again), a);
    assert_ne!(a[0].1, a[1].1, "not all the same picture");
}

fn silent(_: LatentProgress) {}

/// Adapts `base` on `data` into `out` on `device`: no progress shown, cancelled when
/// `cancel` is set.
pub fn adapt_io<'a>(
    seed: u64,
    base: &'a Path,
    data: &'a Path,
    out: &'a Path,
    device: &'a SelectedDevice,
    cancel: &'a AtomicBool,
) -> AdaptIo<'a> {
    AdaptIo {
        seed,
        base_dir: base,
        train_dir: data,
        out_dir: out,
        device,
        progress: &silent,
        cancel,
    }
}
