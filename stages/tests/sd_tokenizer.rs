//! The CLIP tokenizer port against `transformers.CLIPTokenizer`.
//!
//! `bench/reference/sd_reference.py` (transformers 5.24.0, tokenizers 0.23.3) wrote a tiny
//! tokenizer in the diffusers layout (`fixtures/sd/tokenizer/`: CLIP's vocabulary layout,
//! 160 merges learnt from a small corpus) and the ids `CLIPTokenizer` gives 20 prompts
//! encoded as the SD pipelines encode them (padded and truncated to 77). They must agree
//! exactly.

use std::fs;
use std::path::Path;

use augflow_stages::sd::ClipTokenizer;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sd");

#[test]
fn clip_tokenizer_matches_transformers_on_20_prompts() {
    let tokenizer = ClipTokenizer::from_dir(&Path::new(FIXTURES).join("tokenizer")).unwrap();
    assert_eq!(tokenizer.max_length(), 77);
    let text = fs::read_to_string(format!("{FIXTURES}/tokenizer_ids.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let prompts = reference["prompts"].as_array().unwrap();
    let expected = reference["input_ids"].as_array().unwrap();
    assert_eq!(prompts.len(), 20);
    for (prompt, ids) in prompts.iter().zip(expected) {
        let prompt = prompt.as_str().unwrap();
        let ids: Vec<u32> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tokenizer.encode(prompt), ids, "{prompt:?}");
    }
}

#[test]
fn a_broken_tokenizer_folder_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = ClipTokenizer::from_dir(dir.path()) else {
        panic!("an empty folder loaded");
    };
    assert!(err.to_string().contains("vocab.json"), "{err}");

    for name in ["vocab.json", "merges.txt"] {
        fs::copy(
            format!("{FIXTURES}/tokenizer/{name}"),
            dir.path().join(name),
        )
        .unwrap();
    }
    fs::write(dir.path().join("vocab.json"), r#"{"a": 0, "b": -1}"#).unwrap();
    let Err(err) = ClipTokenizer::from_dir(dir.path()) else {
        panic!("a negative id loaded");
    };
    assert!(
        err.to_string().contains("vocab.json") && err.to_string().contains("\"b\""),
        "{err}"
    );
    fs::write(dir.path().join("vocab.json"), r#"{"a": 0}"#).unwrap();
    let Err(err) = ClipTokenizer::from_dir(dir.path()) else {
        panic!("a vocabulary without special tokens loaded");
    };
    assert!(err.to_string().contains("<|startoftext|>"), "{err}");
}
