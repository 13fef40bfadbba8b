//! Latent diffusion end to end on tiny phantom data, on the CPU backend: the autoencoder
//! round-trips images, every stage lowers its loss, LoRA stores adapters and its base's
//! digest only, and sampling gives N images per class from each generator.

mod generator_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use augflow_stages::StageIo;
use augflow_stages::backend::{BackendChoice, SelectedDevice, select_device};
use augflow_stages::generators::latent::{
    AutoencoderConfig, BaseInputs, DiffusionBaseConfig, DreamboothConfig, FinetuneConfig,
    LatentMethod, LoraConfig, MergeLoraConfig, base_digest, load_autoencoder, merge_lora,
    train_autoencoder, train_diffusion_base, train_dreambooth, train_finetune, train_lora,
};
use augflow_stages::generators::{
    GeneratorFile, GeneratorSpec, NoiseSchedule, SampleConfig, Sampler, sample_generator_with_base,
};
use augflow_stages::image_set::ImageSetManifest;
use generator_support::{adapt_io, file_bytes, phantom_set};

const SIZE: u32 = 16;

fn ae_config() -> AutoencoderConfig {
    AutoencoderConfig {
        image_size: SIZE,
        factor: 4,
        base_channels: 8,
        latent_channels: 4,
        kl_weight: 1e-6,
        steps: 150,
        batch_size: 8,
        lr: 3e-3,
        hflip: true,
        init: None,
    }
}

fn base_config() -> DiffusionBaseConfig {
    DiffusionBaseConfig {
        base_channels: 8,
        channel_mults: vec![1, 2],
        res_blocks: 1,
        attention_resolutions: vec![4, 2],
        heads: 2,
        text_width: 16,
        text_layers: 1,
        context_length: 10,
        extra_words: Vec::new(),
        prompt: "an x-ray image of the lung".into(),
        schedule: NoiseSchedule::Linear,
        timesteps: 100,
        cfg_dropout: 0.1,
        steps: 60,
        batch_size: 8,
        lr: 3e-3,
        hflip: true,
        init_unet: None,
        init_text_encoder: None,
    }
}

fn lora_config(rank: usize) -> LoraConfig {
    LoraConfig {
        classes: None,
        prompt: "an x-ray image of the lung with {class}".into(),
        prompts: BTreeMap::from([(
            "viral".into(),
            "an x-ray image of the lung with viral pneumonia".into(),
        )]),
        rank,
        alpha: rank as f64,
        projections: true,
        conv: false,
        cfg_dropout: 0.1,
        steps: 100,
        batch_size: 16,
        lr: 1e-2,
        hflip: true,
    }
}

struct Fixture {
    root: tempfile::TempDir,
    data: PathBuf,
    device: SelectedDevice,
    never: AtomicBool,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        fs::create_dir(&data).unwrap();
        phantom_set(&data, 5, &[("healthy", 12), ("viral", 12)], 2);
        Self {
            root,
            data,
            device: select_device(BackendChoice::Cpu).unwrap(),
            never: AtomicBool::new(false),
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        fs::create_dir(&dir).unwrap();
        dir
    }

    fn sample(
        &self,
        generator: &Path,
        base: Option<&Path>,
        cfg: &SampleConfig,
        out: &str,
    ) -> PathBuf {
        let dir = self.dir(out);
        sample_generator_with_base(
            generator,
            base,
            cfg,
            9,
            &StageIo::without_progress(&dir, &self.device, &self.never),
        )
        .unwrap();
        dir
    }
}

fn sample_config(n: usize) -> SampleConfig {
    SampleConfig {
        batch_size: 4,
        sampler: Some(Sampler::Ddim),
        steps: Some(4),
        guidance: Some(2.0),
        ..SampleConfig::new(n)
    }
}

/// The mean of the last three windows is clearly below the first window.
fn assert_learns(name: &str, losses: &[f32], factor: f32) {
    assert!(losses.len() >= 4, "{name}: {losses:?}");
    let first = losses[0];
    let last = losses[losses.len() - 3..].iter().sum::<f32>() / 3.0;
    assert!(
        last < factor * first,
        "{name}: loss {first} → {last}: {losses:?}"
    );
}

/// The loss on the fixed evaluation batch fell with training.
fn assert_eval_falls(file: &GeneratorFile, phase: &str) {
    let name = format!("{phase} eval");
    let (_, pair) = file
        .losses
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no {name:?} in {:?}", file.losses));
    assert!(pair[1] < pair[0], "{name}: {pair:?}");
}

fn assert_n_per_class(dir: &Path, n: usize, source: &str) {
    generator_support::assert_n_per_class(dir, &["healthy", "viral"], n, SIZE, source);
}

#[test]
fn latent_autoencoder_round_trips_and_every_adaptation_learns_and_samples() {
    let fx = Fixture::new();
    // 1. Autoencoder: loss falls, and decoding the encoding of a training image is close.
    let ae_dir = fx.dir("ae");
    let ae = train_autoencoder(
        &ae_config(),
        1,
        &[fx.data.as_path()],
        None,
        &StageIo::without_progress(&ae_dir, &fx.device, &fx.never),
    )
    .unwrap();
    assert_learns("autoencoder", &ae.losses, 0.5);
    // Per-pixel RMS error under 0.1 of the [0, 1] range (PSNR above 20 dB).
    assert!(ae.reconstruction.psnr > 20.0, "{:?}", ae.reconstruction);
    assert!(ae.scale_factor.is_finite() && ae.scale_factor > 0.0);
    let (reread, _) = load_autoencoder(&ae_dir, &fx.device.device).unwrap();
    assert_eq!(reread.spec, ae.spec);

    // 2. Base: pretrained with the generic prompt.
    let base_dir = fx.dir("base");
    let inputs = BaseInputs {
        train: &fx.data,
        extra: Vec::new(),
        autoencoder: &ae_dir,
        init_unet: None,
        init_text_encoder: None,
    };
    let base = train_diffusion_base(
        &base_config(),
        2,
        &inputs,
        &StageIo::without_progress(&base_dir, &fx.device, &fx.never),
    )
    .unwrap();
    assert_learns("base", &base.losses[0].1, 0.8);
    assert_eval_falls(&base, "base");
    // Imported weights: a base initialised from this one's files starts where it ended.
    let imported = fx.dir("base-imported");
    let (unet, text) = (
        base_dir.join("unet.safetensors"),
        base_dir.join("text_encoder.safetensors"),
    );
    let init = BaseInputs {
        train: &fx.data,
        extra: vec![fx.data.as_path()],
        autoencoder: &ae_dir,
        init_unet: Some(&unet),
        init_text_encoder: Some(&text),
    };
    let short = DiffusionBaseConfig {
        steps: 2,
        ..base_config()
    };
    let again = train_diffusion_base(
        &short,
        2,
        &init,
        &StageIo::without_progress(&imported, &fx.device, &fx.never),
    )
    .unwrap();
    let eval = |file: &GeneratorFile| {
        file.losses
            .iter()
            .find(|(n, _)| n == "base eval")
            .unwrap()
            .1
            .clone()
    };
    let (ended, started) = (eval(&base)[1], eval(&again)[0]);
    assert!(
        (ended - started).abs() < 1e-5,
        "ended {ended}, imported start {started}"
    );
    let base_samples = fx.sample(&base_dir, None, &sample_config(2), "base-samples");
    assert_n_per_class(&base_samples, 2, "diffusion_base");

    // 3a. Full fine-tune.
    let ft_dir = fx.dir("finetune");
    let ft_cfg = FinetuneConfig {
        steps: 40,
        lr: 3e-3,
        ..lora_config(1).finetune()
    };
    let train = |dir: &Path| {
        train_finetune(
            &ft_cfg,
            &adapt_io(3, &base_dir, &fx.data, dir, &fx.device, &fx.never),
        )
        .unwrap()
    };
    let ft = train(&ft_dir);
    // Same seed and device: the same bytes.
    let again = fx.dir("finetune-again");
    train(&again);
    for name in ["unet.safetensors", "generator.json"] {
        let read = |dir: &Path| fs::read(dir.join(name)).unwrap();
        assert_eq!(read(&ft_dir), read(&again), "{name}");
    }
    assert_learns("finetune", &ft.losses[0].1, 1.0);
    assert_eval_falls(&ft, "finetune");
    let three = fx.sample(&ft_dir, None, &sample_config(3), "ft-3");
    assert_n_per_class(&three, 3, "finetune");
    let ancestral = SampleConfig {
        sampler: Some(Sampler::Ddpm),
        ..sample_config(1)
    };
    assert_n_per_class(
        &fx.sample(&ft_dir, None, &ancestral, "ft-ddpm"),
        1,
        "finetune",
    );
    let unknown = SampleConfig {
        prompt: Some("a zebra with {class}".into()),
        ..sample_config(1)
    };
    let err = sample_generator_with_base(
        &ft_dir,
        None,
        &unknown,
        9,
        &StageIo::without_progress(&fx.dir("x0"), &fx.device, &fx.never),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("\"zebra\""), "{err}");
    // Same seed: same bytes; a larger N keeps the first images.
    let five = fx.sample(&ft_dir, None, &sample_config(5), "ft-5");
    let (a, b) = (file_bytes(&three), file_bytes(&five));
    assert!(a.iter().all(|entry| b.contains(entry)));
    assert_eq!(
        file_bytes(&fx.sample(&ft_dir, None, &sample_config(3), "ft-3b")),
        a
    );

    // 3b. LoRA: adapters and the base's digest only, much smaller than the base.
    let lora_dir = fx.dir("lora");
    let lora = train_lora(
        &lora_config(2),
        &adapt_io(4, &base_dir, &fx.data, &lora_dir, &fx.device, &fx.never),
    )
    .unwrap();
    assert_eval_falls(&lora, "lora");
    let GeneratorSpec::Latent { latent } = &lora.spec else {
        panic!("not latent: {:?}", lora.spec);
    };
    assert_eq!(latent.method, LatentMethod::Lora);
    assert_eq!(
        latent.base_digest.as_deref(),
        Some(base_digest(&base_dir).unwrap().as_str())
    );
    let mut names: Vec<String> = fs::read_dir(&lora_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["generator.json", "lora.safetensors"]);
    let lora_size = fs::metadata(lora_dir.join("lora.safetensors"))
        .unwrap()
        .len();
    let unet_size = fs::metadata(base_dir.join("unet.safetensors"))
        .unwrap()
        .len();
    assert!(
        lora_size * 5 < unet_size,
        "lora {lora_size} B, base U-Net {unet_size} B"
    );
    let lora_samples = fx.sample(
        &lora_dir,
        Some(&base_dir),
        &sample_config(2),
        "lora-samples",
    );
    assert_n_per_class(&lora_samples, 2, "lora");
    // Merged into the base's U-Net, the adapters draw the same images without a base.
    let merged_dir = fx.dir("lora-merged");
    let scale = MergeLoraConfig { scale: 1.0 };
    merge_lora(&scale, &lora_dir, &base_dir, &merged_dir, &fx.device).unwrap();
    let merged = fx.sample(&merged_dir, None, &sample_config(2), "merged-samples");
    assert_eq!(file_bytes(&merged), file_bytes(&lora_samples));
    // Without its base, or with another base, sampling refuses.
    let err = sample_generator_with_base(
        &lora_dir,
        None,
        &sample_config(1),
        9,
        &StageIo::without_progress(&fx.dir("x1"), &fx.device, &fx.never),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("base"), "{err}");
    let err = sample_generator_with_base(
        &lora_dir,
        Some(&ft_dir),
        &sample_config(1),
        9,
        &StageIo::without_progress(&fx.dir("x2"), &fx.device, &fx.never),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("digest"), "{err}");
    // Scale 0 draws exactly what the base draws with the same prompts.
    let zero = SampleConfig {
        lora_scale: Some(0.0),
        prompt: Some("an x-ray image of the lung".into()),
        ..sample_config(2)
    };
    let base_same = SampleConfig {
        prompt: Some("an x-ray image of the lung".into()),
        ..sample_config(2)
    };
    let from_lora = file_bytes(&fx.sample(&lora_dir, Some(&base_dir), &zero, "lora-0"));
    let from_base = file_bytes(&fx.sample(&base_dir, None, &base_same, "base-0"));
    let strip = |v: Vec<(String, Vec<u8>)>| v.into_iter().map(|(_, b)| b).collect::<Vec<_>>();
    assert_eq!(strip(from_lora), strip(from_base));

    // 4. DreamBooth: one U-Net per class, prior preservation on base samples.
    let db_dir = fx.dir("dreambooth");
    let db_cfg = DreamboothConfig {
        classes: None,
        instance_prompt: "an x-ray image of the lung with sks {class}".into(),
        class_prompt: "an x-ray image of the lung with {class}".into(),
        prior_weight: 1.0,
        prior_images: 4,
        prior_steps: 3,
        prior_guidance: 2.0,
        train_text_encoder: false,
        steps: 40,
        batch_size: 4,
        lr: 3e-3,
        hflip: true,
    };
    let db = train_dreambooth(
        &db_cfg,
        &adapt_io(5, &base_dir, &fx.data, &db_dir, &fx.device, &fx.never),
    )
    .unwrap();
    assert_eq!(db.losses.len(), 4, "one model (losses + eval) per class");
    for class in ["healthy", "viral"] {
        assert_eval_falls(&db, &format!("dreambooth {class}"));
    }
    assert!(db_dir.join("unet-healthy.safetensors").is_file());
    assert!(db_dir.join("unet-viral.safetensors").is_file());
    let db_samples = fx.sample(&db_dir, None, &sample_config(2), "db-samples");
    assert_n_per_class(&db_samples, 2, "dreambooth");
    let reread = GeneratorFile::read(&db_dir).unwrap();
    assert_eq!(
        (&reread.spec, &reread.checkpoints),
        (&db.spec, &db.checkpoints)
    );

    // With `train_text_encoder`, each class gets its own text encoder too.
    let db_text = fx.dir("dreambooth-text");
    let cfg = DreamboothConfig {
        classes: Some(vec!["viral".into()]),
        train_text_encoder: true,
        steps: 4,
        ..db_cfg
    };
    let file = train_dreambooth(
        &cfg,
        &adapt_io(6, &base_dir, &fx.data, &db_text, &fx.device, &fx.never),
    )
    .unwrap();
    assert_eq!(file.checkpoints.len(), 1);
    let read = |path: PathBuf| fs::read(path).unwrap();
    assert_ne!(
        read(db_text.join("text_encoder-viral.safetensors")),
        read(base_dir.join("text_encoder.safetensors"))
    );
    assert!(!db_text.join("text_encoder.safetensors").exists());
    let one_class = SampleConfig {
        classes: Some(vec!["viral".into()]),
        ..sample_config(1)
    };
    let drawn = ImageSetManifest::read(&fx.sample(&db_text, None, &one_class, "db-text")).unwrap();
    assert_eq!(drawn.images.len(), 1);
}
