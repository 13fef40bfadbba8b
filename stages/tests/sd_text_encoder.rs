//! CLIP's text encoder against `transformers.CLIPTextModel`, and SD v1-4's full-size
//! text encoder checked tensor by tensor.
//!
//! `bench/reference/sd_reference.py` (transformers 5.24.0, torch 2.15.0) built a tiny
//! CLIPTextModel from `fixtures/sd/text_encoder/config.json` (2 layers, width 32, 4 heads,
//! quick-GELU, over the tiny tokenizer's vocabulary), filled every tensor with its
//! formula, and recorded the float64 `last_hidden_state` of three prompts (transformers'
//! own f32 run is within 2.3e-7 of it).

mod sd_support;

use augflow_stages::metrics::quality::inception::test_weights::{
    TestTensor, TestValues, write_safetensors,
};
use augflow_stages::sd::weights::torch_tensors;
use augflow_stages::sd::{ClipTextConfig, ClipTextModel, ClipTokenizer};
use burn::tensor::Device;
use sd_support::{TOLERANCE, assert_fill, fixture, json, tensor_list, write_filled};

/// What published checkpoints put before transformers 5's names (the script fills by the
/// short names).
const PREFIX: &str = "text_model.";

#[test]
fn clip_text_encoder_matches_transformers() {
    let config = ClipTextConfig::read(&fixture("text_encoder/config.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let device = Device::flex();
    let names = torch_tensors(&ClipTextModel::new(&config, &device));
    let reference = json("text_encoder.json");
    assert_fill(write_filled(&names, PREFIX, &path), &reference);

    let model = ClipTextModel::load(&config, &path, &device).unwrap();
    let tokenizer = ClipTokenizer::from_dir(&fixture("tokenizer")).unwrap();
    let prompts = json("tokenizer_ids.json")["prompts"].clone();
    let ids: Vec<Vec<u32>> = reference["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| tokenizer.encode(prompts[i.as_u64().unwrap() as usize].as_str().unwrap()))
        .collect();
    let out = model.forward(&ids);
    let [_, n, c] = out.dims();
    let values = out.try_into_vec_as::<f32>().unwrap();
    for (i, expected) in reference["outputs"].as_array().unwrap().iter().enumerate() {
        let ours: Vec<f64> = values[i * n * c..(i + 1) * n * c]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let num = |k: &str| expected[k].as_f64().unwrap();
        let max = num("max_abs");
        let mean = ours.iter().sum::<f64>() / ours.len() as f64;
        let l2 = ours.iter().map(|v| v * v).sum::<f64>().sqrt();
        // The first position and the end-of-text one (what SD's attention leans on).
        let eos = expected["eos"].as_u64().unwrap() as usize;
        let mut worst = 0.0f64;
        for (key, row) in [("first16", 0), ("eos16", eos)] {
            for (j, v) in expected[key].as_array().unwrap().iter().enumerate() {
                worst = worst.max((ours[row * c + j] - v.as_f64().unwrap()).abs() / max);
            }
        }
        eprintln!(
            "prompt {i}: worst {worst:.2e} of max, mean {mean:.6e} ({:.6e}), l2 {l2:.6e} ({:.6e})",
            num("mean"),
            num("l2")
        );
        assert!(
            worst <= TOLERANCE,
            "prompt {i}: values differ by {worst:e} of max"
        );
        assert!(
            (mean - num("mean")).abs() <= TOLERANCE * max,
            "prompt {i} mean"
        );
        assert!(
            (l2 - num("l2")).abs() <= TOLERANCE * num("l2"),
            "prompt {i} l2"
        );
    }
}

/// SD v1-4's text encoder, built from its published config: every tensor name and shape
/// as transformers has them (no weights allocated).
#[test]
fn sd_v1_4_text_encoder_has_every_published_tensor() {
    let config = ClipTextConfig::read(&fixture("sd-v1-4/text_encoder/config.json")).unwrap();
    let ours = torch_tensors(&ClipTextModel::new(&config, &Device::flex()));
    let published = tensor_list("sd-v1-4/text_encoder.tensors");
    assert_eq!(published.len(), 196);
    assert_eq!(ours, published);
}

#[test]
fn a_text_encoder_file_that_does_not_fit_names_every_problem() {
    let config = ClipTextConfig::read(&fixture("text_encoder/config.json")).unwrap();
    let model = ClipTextModel::new(&config, &Device::flex());
    let mut tensors: Vec<TestTensor> = torch_tensors(&model)
        .into_iter()
        .filter(|(name, _)| name != "text_model.encoder.layers.1.mlp.fc2.bias")
        .map(|(name, shape)| {
            let shape = if name == "text_model.encoder.layers.0.self_attn.q_proj.weight" {
                vec![32, 16]
            } else {
                shape
            };
            TestTensor {
                values: TestValues::F32(vec![0.0; shape.iter().product()]),
                name,
                shape,
            }
        })
        .collect();
    tensors.push(TestTensor {
        name: "text_model.encoder.layers.2.mlp.fc1.bias".to_owned(),
        shape: vec![64],
        values: TestValues::F32(vec![0.0; 64]),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    write_safetensors(&path, &tensors).unwrap();
    let Err(err) = ClipTextModel::load(&config, &path, &Device::flex()) else {
        panic!("a broken file loaded");
    };
    let message = err.to_string();
    for needle in [
        "model.safetensors",
        "1 missing tensors: `text_model.encoder.layers.1.mlp.fc2.bias`",
        "`text_model.encoder.layers.0.self_attn.q_proj.weight` has shape [32, 16], expected [32, 32]",
        "1 unexpected tensors: `text_model.encoder.layers.2.mlp.fc1.bias`",
    ] {
        assert!(message.contains(needle), "no {needle:?} in {message}");
    }
}
