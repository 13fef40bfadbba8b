//! CLIP's text encoder against `transformers.CLIPTextModel`, and SD v1-4's full-size
//! text encoder checked tensor by tensor.
//!
//! `bench/reference/sd_reference.py` (transformers 5.24.0, torch 2.15.0) built a tiny
//! CLIPTextModel from `fixtures/sd/text_encoder/config.json` (2 layers, width 32, 4 heads,
//! quick-GELU, over the tiny tokenizer's vocabulary), filled every tensor with its
//! formula, and recorded the float64 `last_hidden_state` of three prompts (transformers'
//! own f32 run is within 2.3e-7 of it).

mod parity_support;
mod sd_support;

use augflow_stages::metrics::quality::inception::test_weights::{
    TestTensor, TestValues, write_safetensors,
};
use augflow_stages::sd::weights::torch_tensors;
use augflow_stages::sd::{ClipTextConfig, ClipTextModel, ClipTokenizer};
use burn::tensor::Device;
use parity_support::{assert_mentions, check_summary_at, per_item};
use sd_support::{fixture, json, tensor_list, write_checked_fill};

/// What published checkpoints put before transformers 5's names (the script fills by the
/// short names).
const PREFIX: &str = "text_model.";

#[test]
fn clip_text_encoder_matches_transformers() {
    let config = ClipTextConfig::read(&fixture("text_encoder/config.json")).unwrap();
    let device = Device::flex();
    let names = torch_tensors(&ClipTextModel::new(&config, &device));
    let reference = json("text_encoder.json");
    let (_dir, path) = write_checked_fill(&names, PREFIX, "model.safetensors", &reference);

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
    let [batch, _, c] = out.dims();
    let values = out.try_into_vec_as::<f32>().unwrap();
    let outputs = reference["outputs"].as_array().unwrap();
    assert_eq!(batch, outputs.len());
    for (i, (ours, expected)) in per_item(&values, batch).iter().zip(outputs).enumerate() {
        // The first position and the end-of-text one (what SD's attention leans on).
        let eos = expected["eos"].as_u64().unwrap() as usize;
        check_summary_at(
            &format!("prompt {i}"),
            ours,
            expected,
            &[("first16", 0), ("eos16", eos * c)],
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
    assert_mentions(
        &err.to_string(),
        &[
            "model.safetensors",
            "1 missing tensors: `text_model.encoder.layers.1.mlp.fc2.bias`",
            "`text_model.encoder.layers.0.self_attn.q_proj.weight` has shape [32, 16], expected [32, 32]",
            "1 unexpected tensors: `text_model.encoder.layers.2.mlp.fc1.bias`",
        ],
    );
}
