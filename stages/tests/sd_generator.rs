//! Stable Diffusion as a generator family, on the committed tiny SD folder
//! (`pipelines/assets/sd-tiny`) and CPU: a bad folder is refused naming the file and
//! the problem, sampling is seeded per image (same seed, same bytes), LoRA's diffusers
//! file has exactly the names and shapes diffusers saves itself, and params that do not
//! apply to SD are refused.

mod generator_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use augflow_stages::StageIo;
use augflow_stages::backend::{BackendChoice, SelectedDevice, select_device};
use augflow_stages::generators::latent::DreamboothConfig;
use augflow_stages::generators::sd::{
    DIFFUSERS_LORA_FILE, ImportSdConfig, SdLoraConfig, import_stable_diffusion,
    train_sd_dreambooth, train_sd_lora,
};
use augflow_stages::generators::{GeneratorFamily, SampleConfig, Sampler, sample_generator};
use generator_support::{adapt_io, phantom_set};

const FOLDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/assets/sd-tiny");
const LORA_NAMES: &str = include_str!("fixtures/sd/sd_tiny_lora_names.json");

struct Fixture {
    root: tempfile::TempDir,
    device: SelectedDevice,
    never: AtomicBool,
}

impl Fixture {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
            device: select_device(BackendChoice::Cpu).unwrap(),
            never: AtomicBool::new(false),
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A tiny training set (two classes, two images each) and the imported tiny SD.
    fn adaptation_inputs(&self) -> (PathBuf, PathBuf) {
        let data = self.dir("data");
        phantom_set(&data, 3, &[("healthy", 2), ("viral", 2)], 1);
        (data, self.import(Path::new(FOLDER), "sd").unwrap())
    }

    /// A copy of the tiny folder to break.
    fn folder_copy(&self, name: &str) -> PathBuf {
        let to = self.dir(name);
        copy_tree(Path::new(FOLDER), &to);
        to
    }

    fn import(&self, folder: &Path, out: &str) -> Result<PathBuf, String> {
        let dir = self.dir(out);
        let cfg = ImportSdConfig {
            folder: String::new(),
            image_size: Some(16),
        };
        import_stable_diffusion(&cfg, folder, &dir, &self.device)
            .map(|_| dir)
            .map_err(|err| error_chain(&err))
    }

    fn sample(&self, generator: &Path, cfg: &SampleConfig, seed: u64, out: &str) -> PathBuf {
        let dir = self.dir(out);
        sample_generator(
            generator,
            cfg,
            seed,
            &StageIo::without_progress(&dir, &self.device, &self.never),
        )
        .unwrap_or_else(|err| panic!("{}", error_chain(&err)));
        dir
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn sample_config(n: usize, sampler: Sampler) -> SampleConfig {
    SampleConfig {
        classes: Some(vec!["healthy".into(), "viral".into()]),
        batch_size: 2,
        sampler: Some(sampler),
        steps: Some(3),
        ..SampleConfig::new(n)
    }
}

/// Every image file of a sampled set, by relative path.
fn images(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for class in ["healthy", "viral"] {
        let class_dir = dir.join("images").join(class);
        for entry in fs::read_dir(&class_dir).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{class}/{}", path.file_name().unwrap().to_string_lossy());
            out.insert(name, fs::read(&path).unwrap());
        }
    }
    out
}

/// The f32 tensors of a safetensors file: name → (shape, values).
fn tensors(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let data = &bytes[8 + len..];
    let mut out = BTreeMap::new();
    for (name, info) in json.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        assert_eq!(info["dtype"], "F32", "{name}");
        let shape: Vec<usize> = serde_json::from_value(info["shape"].clone()).unwrap();
        let [start, end]: [usize; 2] =
            serde_json::from_value(info["data_offsets"].clone()).unwrap();
        let values = data[start..end]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        out.insert(name.clone(), (shape, values));
    }
    out
}

/// [rows, cols] · [cols, inner] for row-major values.
fn matmul(a: &[f32], b: &[f32], rows: usize, cols: usize, inner: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * inner];
    for r in 0..rows {
        for c in 0..cols {
            for i in 0..inner {
                out[r * inner + i] += a[r * cols + c] * b[c * inner + i];
            }
        }
    }
    out
}

/// Names and shapes in a safetensors file's header.
fn header(path: &Path) -> BTreeMap<String, serde_json::Value> {
    let bytes = fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    json.as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(name, info)| (name.clone(), info["shape"].clone()))
        .collect()
}

#[test]
fn import_refuses_a_broken_folder_naming_the_file_and_the_problem() {
    let fixture = Fixture::new();
    let imported = fixture.import(Path::new(FOLDER), "ok").unwrap();
    assert!(
        imported
            .join("sd/unet/diffusion_pytorch_model.safetensors")
            .is_file()
    );

    /// Breaks a copy of the tiny folder.
    type Breakage = fn(&Path);
    // (copy's name, how it is broken, what the error must name)
    let cases: [(&str, Breakage, [&str; 2]); 3] = [
        (
            "no-unet",
            |folder| fs::remove_dir_all(folder.join("unet")).unwrap(),
            ["no-unet", "missing unet/"],
        ),
        (
            "sdxl",
            |folder| {
                let index = folder.join("model_index.json");
                let text = fs::read_to_string(&index).unwrap().replace(
                    "\"StableDiffusionPipeline\"",
                    "\"StableDiffusionXLPipeline\"",
                );
                fs::write(&index, text).unwrap();
            },
            ["model_index.json", "SDXL"],
        ),
        (
            "truncated",
            |folder| {
                let weights = folder.join("unet/diffusion_pytorch_model.safetensors");
                let bytes = fs::read(&weights).unwrap();
                fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
            },
            ["unet/diffusion_pytorch_model.safetensors", "truncated"],
        ),
    ];
    for (name, break_folder, needles) in cases {
        let folder = fixture.folder_copy(name);
        break_folder(&folder);
        let err = fixture.import(&folder, &format!("out-{name}")).unwrap_err();
        for needle in needles {
            assert!(err.contains(needle), "{name}: no {needle:?} in {err}");
        }
    }

    let size = ImportSdConfig {
        folder: String::new(),
        image_size: Some(20),
    };
    let out = fixture.dir("out-size");
    let err = import_stable_diffusion(&size, Path::new(FOLDER), &out, &fixture.device)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("image_size 20 is not a multiple of 8"),
        "{err}"
    );
}

#[test]
fn sd_sampling_is_seeded_per_image() {
    let fixture = Fixture::new();
    let generator = fixture.import(Path::new(FOLDER), "sd").unwrap();
    let first = images(&fixture.sample(&generator, &sample_config(2, Sampler::Pndm), 1, "a"));
    let again = images(&fixture.sample(&generator, &sample_config(2, Sampler::Pndm), 1, "b"));
    assert_eq!(first.len(), 4);
    assert_eq!(first, again, "same seed, same bytes");
    let other = images(&fixture.sample(&generator, &sample_config(2, Sampler::Pndm), 2, "c"));
    assert!(first.values().zip(other.values()).all(|(a, b)| a != b));
    let ddim = images(&fixture.sample(&generator, &sample_config(2, Sampler::Ddim), 1, "d"));
    assert_ne!(first, ddim, "the sampler is used");
    // Image i depends on (seed, class, i) only: drawing more keeps the first ones.
    let more = images(&fixture.sample(&generator, &sample_config(4, Sampler::Pndm), 1, "e"));
    assert_eq!(more.len(), 8);
    for (name, bytes) in &first {
        assert_eq!(more.get(name), Some(bytes), "{name}");
    }
}

#[test]
fn sd_lora_file_has_the_names_and_shapes_diffusers_saves() {
    let fixture = Fixture::new();
    let (data, generator) = fixture.adaptation_inputs();
    let reference: serde_json::Value = serde_json::from_str(LORA_NAMES).unwrap();
    let cfg: SdLoraConfig = serde_json::from_value(serde_json::json!({
        "rank": reference["rank"], "alpha": 8.0, "steps": 2, "batch_size": 2
    }))
    .unwrap();
    let out = fixture.dir("lora");
    train_sd_lora(
        &cfg,
        &adapt_io(4, &generator, &data, &out, &fixture.device, &fixture.never),
    )
    .unwrap_or_else(|err| panic!("{}", error_chain(&err)));
    let theirs: BTreeMap<String, serde_json::Value> = reference["tensors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, shape)| (name.clone(), shape.clone()))
        .collect();
    assert_eq!(header(&out.join(DIFFUSERS_LORA_FILE)), theirs);
    // diffusers' ΔW = up · down [out, in] (scale 1, no α in the file) is ours,
    // (α/r)·(A·B)ᵀ with A [in, r], B [r, out] in Burn's layout.
    let ours = tensors(&out.join("lora.safetensors"));
    let diffusers = tensors(&out.join(DIFFUSERS_LORA_FILE));
    let module = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v";
    let (a_shape, a) = &ours[&format!("{module}.weight.lora.a")];
    let (_, b) = &ours[&format!("{module}.weight.lora.b")];
    let (inputs, rank, outputs) = (a_shape[0], a_shape[1], 8);
    let (_, down) = &diffusers[&format!("unet.{module}.lora.down.weight")];
    let (_, up) = &diffusers[&format!("unet.{module}.lora.up.weight")];
    let theirs = matmul(up, down, outputs, rank, inputs);
    let mine = matmul(a, b, inputs, rank, outputs);
    assert!(
        mine.iter().any(|v| v.abs() > 1e-6),
        "two steps moved B off zero"
    );
    for o in 0..outputs {
        for i in 0..inputs {
            let (t, m) = (theirs[o * inputs + i], 2.0 * mine[i * outputs + o]);
            assert!(
                (t - m).abs() <= 1e-6 * (1.0 + m.abs()),
                "ΔW[{o}, {i}]: {t} vs {m}"
            );
        }
    }
    // The LoRA generator samples with its adapters.
    let lora = images(&fixture.sample(&out, &sample_config(1, Sampler::Ddim), 1, "s"));
    assert_eq!(lora.len(), 2);
}

#[test]
fn sd_dreambooth_with_its_text_encoder_trains_one_model_per_class_and_samples() {
    let fixture = Fixture::new();
    let (data, generator) = fixture.adaptation_inputs();
    let cfg: DreamboothConfig = serde_json::from_value(serde_json::json!({
        "prior_images": 2, "prior_steps": 2, "train_text_encoder": true,
        "steps": 2, "batch_size": 2, "lr": 0.001
    }))
    .unwrap();
    let out = fixture.dir("dreambooth");
    let file = train_sd_dreambooth(
        &cfg,
        &adapt_io(4, &generator, &data, &out, &fixture.device, &fixture.never),
    )
    .unwrap_or_else(|err| panic!("{}", error_chain(&err)));
    for class in ["healthy", "viral"] {
        assert!(out.join(format!("unet-{class}.safetensors")).is_file());
        assert!(
            out.join(format!("text_encoder-{class}.safetensors"))
                .is_file()
        );
    }
    let weights: Vec<&str> = file
        .checkpoints
        .iter()
        .map(|c| c.weights.as_str())
        .collect();
    assert_eq!(
        weights,
        ["unet-healthy.safetensors", "unet-viral.safetensors"]
    );
    let mut cfg = sample_config(1, Sampler::Ddim);
    cfg.classes = None;
    let drawn = images(&fixture.sample(&out, &cfg, 1, "s"));
    assert_eq!(drawn.len(), 2);
}

#[test]
fn params_that_do_not_apply_to_stable_diffusion_are_refused() {
    let mut cfg = sample_config(1, Sampler::Ddpm);
    let (param, why) = cfg.misapplied(GeneratorFamily::StableDiffusion).unwrap();
    assert_eq!(param, "sampler");
    assert!(why.contains("ddim or pndm"), "{why}");
    cfg.sampler = Some(Sampler::Pndm);
    assert_eq!(cfg.misapplied(GeneratorFamily::StableDiffusion), None);
    let (param, _) = cfg.misapplied(GeneratorFamily::Ddpm).unwrap();
    assert_eq!(param, "sampler");
    cfg.lora_scale = Some(0.5);
    let (param, _) = cfg.misapplied(GeneratorFamily::StableDiffusion).unwrap();
    assert_eq!(param, "lora_scale");
    assert_eq!(cfg.misapplied(GeneratorFamily::StableDiffusionLora), None);
}
