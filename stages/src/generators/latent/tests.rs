//! Unit tests of the latent networks: classifier-free guidance, LoRA scale and size, and
//! weight files written by a test read back into fresh modules.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor, TensorData};

use std::cell::Cell;
use std::sync::atomic::AtomicBool;

use super::ae_train::encode_means;
use super::autoencoder::{Autoencoder, kl_per_element};
use super::config::{
    AutoencoderSpec, LatentMethod, LatentSpec, LatentUNetSpec, LoraSpec, TextSpec,
};
use super::lora;
use super::model::{Guided, LatentDiffusion};
use super::stages::to_examples;
use super::train::{Example, LoopConfig, train_loop};
use super::vocab::build_vocabulary;
use super::{LatentProgress, flip_rows};
use crate::generators::NoiseSchedule;
use crate::generators::ddpm::sample::NoisePredictor;
use crate::generators::ddpm::schedule::Schedule;
use crate::rng::{keyed_rng, normal};
use crate::weights::{load_module, module_bytes};

fn text_spec() -> TextSpec {
    TextSpec {
        vocabulary: build_vocabulary(["viral"]),
        context_length: 6,
        width: 16,
        layers: 1,
        heads: 2,
    }
}

fn unet_spec() -> LatentUNetSpec {
    LatentUNetSpec {
        base_channels: 8,
        channel_mults: vec![1, 2],
        res_blocks: 1,
        attention_resolutions: vec![8, 4],
        heads: 2,
        context_dim: 16,
    }
}

fn tiny(seed: u64, device: &Device) -> LatentDiffusion {
    LatentDiffusion::new(&text_spec(), &unet_spec(), 4, 8, seed, device)
}

fn noise(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    let mut rng = keyed_rng(seed, "test-noise", &[]);
    let values: Vec<f32> = (0..shape.iter().product())
        .map(|_| normal(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().expect("read")
}

fn tokens() -> Vec<usize> {
    super::vocab::tokenize("a lung with viral pneumonia", &text_spec().vocabulary, 6)
        .expect("known words")
}

#[test]
fn guidance_scale_one_is_the_conditional_prediction() {
    let device = Device::flex();
    let model = tiny(1, &device);
    let x = noise([2, 4, 8, 8], 2, &device);
    let t = [10, 500];
    let tokens = tokens();
    let cond = values(model.forward(x.clone(), &t, &[tokens.clone(), tokens.clone()]));
    let guided = |g: f64| values(Guided::new(&model, &tokens, g).predict(x.clone(), &t));
    assert_eq!(guided(1.0), cond, "scale 1 must be exactly ε̂(c)");
    // Other scales extrapolate from the unconditional prediction.
    let uncond = values(model.forward(x.clone(), &t, &[vec![0; 6], vec![0; 6]]));
    assert_ne!(uncond, cond, "the prompt must matter");
    let two = guided(2.0);
    for ((g, c), u) in two.iter().zip(&cond).zip(&uncond) {
        assert!((g - (2.0 * c - u)).abs() < 1e-4, "{g} vs {}", 2.0 * c - u);
    }
    let zero = guided(0.0);
    for (g, u) in zero.iter().zip(&uncond) {
        assert!((g - u).abs() < 1e-4);
    }
}

/// Sets every LoRA B factor to N(0, 0.1²), as if trained.
struct TrainedB {
    count: u64,
    path: Vec<String>,
}

impl ModuleMapper for TrainedB {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let n = self.path.len();
        if n < 2 || self.path[n - 1] != "b" || self.path[n - 2] != "lora" {
            return param;
        }
        self.count += 1;
        let mut rng = keyed_rng(7, "test-b", &[self.count]);
        param.map(|t| {
            let shape = t.shape();
            let values: Vec<f32> = (0..shape.num_elements())
                .map(|_| 0.1 * normal(&mut rng))
                .collect();
            Tensor::from_data(TensorData::new(values, shape), &t.device())
        })
    }
}

#[test]
fn lora_scale_zero_is_exactly_the_base_and_its_file_is_small() {
    let device = Device::flex();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = tiny(3, &device);
    let x = noise([2, 4, 8, 8], 4, &device);
    let t = [3, 700];
    let rows = [tokens(), tokens()];
    let context = base.text.forward(&rows);
    let want = values(base.unet.forward(x.clone(), &t, context.clone()));
    let attention = LoraSpec {
        rank: 2,
        alpha: 2.0,
        projections: false,
        conv: false,
    };
    let everything = LoraSpec {
        projections: true,
        conv: true,
        ..attention.clone()
    };
    // Seven transformer blocks (one per down level, the middle, two per up level), each
    // with self- and cross-attention × q, k, v, out; with projections also proj_in,
    // proj_out, ff1, ff2; with conv the two 3×3 convs of eight residual blocks.
    for (spec, adapters) in [(&attention, 7 * 2 * 4), (&everything, 7 * 12 + 8 * 2)] {
        // "Train" adapters: random A (keyed) and a non-zero B, then save them alone.
        let trained = lora::apply(base.unet.clone(), spec, 1.0, 5).expect("apply");
        assert_eq!(lora::adapter_count(&trained), adapters, "{spec:?}");
        let trained = trained.map(&mut TrainedB {
            count: 0,
            path: Vec::new(),
        });
        let adapted = values(trained.forward(x.clone(), &t, context.clone()));
        assert_ne!(adapted, want, "trained adapters must change the output");
        let lora_path = dir.path().join("lora.safetensors");
        std::fs::write(&lora_path, lora::adapter_bytes(&trained).expect("bytes")).expect("write");

        // Reloaded at scale 1: the trained output; at scale 0: the base, bit for bit.
        let at = |scale: f64| {
            let unet = lora::apply(base.unet.clone(), spec, scale, 99).expect("apply");
            let unet = lora::load_adapters(unet, &lora_path).expect("load");
            values(unet.forward(x.clone(), &t, context.clone()))
        };
        assert_eq!(at(1.0), adapted, "{spec:?}");
        assert_eq!(at(0.0), want, "{spec:?}");
    }

    let lora_path = dir.path().join("attention.safetensors");
    let trained = lora::apply(base.unet.clone(), &attention, 1.0, 5).expect("apply");
    std::fs::write(&lora_path, lora::adapter_bytes(&trained).expect("bytes")).expect("write");
    let base_bytes = module_bytes(&base.unet, "unet").expect("bytes").len();
    let lora_bytes = std::fs::metadata(&lora_path).expect("stat").len() as usize;
    assert!(
        lora_bytes * 5 < base_bytes,
        "adapters {lora_bytes} B vs base U-Net {base_bytes} B"
    );
}

/// A 16-pixel autoencoder with four latent channels, initialised from `seed`.
fn tiny_autoencoder(seed: u64, device: &Device) -> (AutoencoderSpec, Autoencoder) {
    let spec = AutoencoderSpec {
        image_size: 16,
        factor: 4,
        base_channels: 4,
        latent_channels: 4,
    };
    let ae = Autoencoder::new(&spec, device).map(&mut crate::init::SeededInit::new(
        seed,
        crate::init::InitPolicy::TorchDefault,
    ));
    (spec, ae)
}

#[test]
fn weight_files_written_by_a_test_load_into_fresh_modules() {
    let device = Device::flex();
    let dir = tempfile::tempdir().expect("tempdir");
    let source = tiny(11, &device);
    let (ae_spec, ae) = tiny_autoencoder(12, &device);
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let unet_path = write(
        "unet.safetensors",
        module_bytes(&source.unet, "u").expect("u"),
    );
    let text_path = write(
        "text.safetensors",
        module_bytes(&source.text, "t").expect("t"),
    );
    let ae_path = write("ae.safetensors", module_bytes(&ae, "a").expect("a"));

    let fresh = tiny(12, &device);
    let x = noise([1, 4, 8, 8], 13, &device);
    let tokens = [tokens()];
    let want = values(source.forward(x.clone(), &[9], &tokens));
    assert_ne!(values(fresh.forward(x.clone(), &[9], &tokens)), want);
    let loaded = LatentDiffusion {
        text: load_module(fresh.text, &text_path).expect("text"),
        unet: load_module(fresh.unet, &unet_path).expect("unet"),
    };
    assert_eq!(values(loaded.forward(x, &[9], &tokens)), want);

    let image = noise([1, 1, 16, 16], 14, &device);
    let ae2 = load_module(Autoencoder::new(&ae_spec, &device), &ae_path).expect("ae");
    let (m1, _) = ae.encode(image.clone());
    let (m2, _) = ae2.encode(image);
    assert_eq!(values(m1), values(m2));

    // A file for another shape is refused, naming what does not fit.
    let err = load_module(tiny(1, &device).text, &unet_path)
        .expect_err("wrong file")
        .to_string();
    assert!(err.contains("unet.safetensors"), "{err}");
}

#[test]
fn dreambooth_training_loss_adds_prior_weight_times_the_prior_term() {
    // The loss of the first step (same model, batch, noise and timesteps each time) with
    // no prior set and with prior weights 0, 0.5 and 1: the prior term enters linearly.
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let schedule = Schedule::new(NoiseSchedule::Linear, 100);
    let example = |seed: u64| Example {
        latent: values(noise([1, 4, 8, 8], seed, &device)),
        mirrored: None,
        tokens: tokens(),
    };
    let instance = [example(20), example(21)];
    let prior = [example(22), example(23)];
    let first_loss = |weight: Option<f64>| {
        let cfg = LoopConfig {
            phase: "dreambooth test".to_owned(),
            seed: 1,
            stream: "dreambooth-test",
            steps: 1,
            batch_size: 2,
            lr: 1e-3,
            cfg_dropout: 0.0,
            hflip: false,
            schedule: &schedule,
            channels: 4,
            side: 8,
            prior: weight.map(|w| (&prior[..], w)),
            empty_prompt: None,
            eval_chunk: None,
        };
        let seen = Cell::new(None);
        let progress = |event: LatentProgress| {
            if let LatentProgress::Step { loss, .. } = event {
                seen.set(Some(loss));
            }
        };
        train_loop(
            tiny(3, &ad),
            &cfg,
            &instance,
            &ad,
            &progress,
            &AtomicBool::new(false),
        )
        .expect("train");
        seen.get().expect("one step")
    };
    let plain = first_loss(None);
    assert_eq!(
        first_loss(Some(0.0)),
        plain,
        "weight 0: the instance loss alone"
    );
    let prior_term = first_loss(Some(1.0)) - plain;
    assert!(prior_term > 1e-3 * plain, "no prior term: {prior_term}");
    let half = first_loss(Some(0.5));
    assert!(
        (half - (plain + 0.5 * prior_term)).abs() < 1e-5 * plain.max(1.0),
        "weight 0.5: {half} vs {} + 0.5 × {prior_term}",
        plain
    );
}

#[test]
fn kl_term_is_the_gaussian_kl_to_the_standard_normal_per_element() {
    // KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − ln σ²): 0 at (0, 1), ½ at (1, 1),
    // ½(1 − ln 2) at (0, 2) and ½(4 + ½ − 1 + ln 2) at (2, ½); the mean of the four.
    let device = Device::flex();
    let tensor =
        |v: [f32; 4]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 1, 2, 2]), &device);
    let ln2 = std::f32::consts::LN_2;
    let kl = kl_per_element(tensor([0.0, 1.0, 0.0, 2.0]), tensor([0.0, 0.0, ln2, -ln2]))
        .try_into_scalar::<f32>()
        .expect("scalar");
    let want = (0.0 + 0.5 + 0.5 * (1.0 - ln2) + 0.5 * (3.5 + ln2)) / 4.0;
    assert!((kl - want).abs() < 1e-6, "{kl} vs {want}");
}

#[test]
fn flipped_examples_are_latents_of_mirrored_images() {
    // hflip must train on the encoder's latent of the mirrored image: the encoder is not
    // mirror-equivariant, so the mirrored latent is something else.
    let device = Device::flex();
    let (ae_spec, ae) = tiny_autoencoder(21, &device);
    let spec = LatentSpec {
        method: LatentMethod::Base,
        autoencoder: ae_spec.clone(),
        scale_factor: 0.5,
        text: text_spec(),
        unet: unet_spec(),
        schedule: NoiseSchedule::Linear,
        timesteps: 100,
        prompts: Default::default(),
        lora: None,
        base_digest: None,
        text_per_class: false,
        lora_scale: None,
    };
    let rows: Vec<Vec<f32>> = (0..2)
        .map(|i| values(noise([1, 1, 16, 16], 30 + i, &device)))
        .collect();
    let plain = to_examples(&ae, &spec, &rows, &tokens(), false, &device).expect("encode");
    assert!(plain.iter().all(|e| e.mirrored.is_none()));
    let examples = to_examples(&ae, &spec, &rows, &tokens(), true, &device).expect("encode");
    let views: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let mirrored_images = flip_rows(&views, &[true, true], 16);
    let want = encode_means(&ae, &mirrored_images, &ae_spec, &device).expect("encode");
    for ((example, want), plain) in examples.iter().zip(&want).zip(&plain) {
        assert_eq!(example.latent, plain.latent);
        let scaled: Vec<f32> = want.iter().map(|v| v * 0.5).collect();
        assert_eq!(example.mirrored.as_ref(), Some(&scaled));
        let latent_views = [example.latent.as_slice()];
        let mirrored_latent = flip_rows(&latent_views, &[true], 4).remove(0);
        assert_ne!(Some(&mirrored_latent), example.mirrored.as_ref());
    }
}

#[test]
fn the_unet_must_fit_the_latent_side() {
    // 3 levels halve twice: a side of 6 would go 6 → 3 → 2 and back up to 4 ≠ 3.
    let spec = LatentUNetSpec {
        channel_mults: vec![1, 2, 2],
        attention_resolutions: vec![8, 2],
        ..unet_spec()
    };
    spec.check_latent_side(8).expect("8 → 4 → 2");
    let err = spec.check_latent_side(6).expect_err("odd half").to_string();
    assert!(
        err.contains("latent side 6") && err.contains("[1, 2, 2]"),
        "{err}"
    );
    let err = spec
        .check_latent_side(16)
        .expect_err("no side 2")
        .to_string();
    assert!(
        err.contains("holds 2") && err.contains("[16, 8, 4]"),
        "{err}"
    );
    // A side that cannot be halved is what made Burn panic.
    let panicked = std::panic::catch_unwind(|| {
        let device = Device::flex();
        let unet = super::unet::LatentUNet::new(&spec, 4, 6, &device);
        let context = Tensor::<3>::zeros([1, 6, 16], &device);
        unet.forward(noise([1, 4, 6, 6], 1, &device), &[3], context)
    });
    assert!(
        panicked.is_err(),
        "a 6×6 latent through three levels must not fit"
    );
}
