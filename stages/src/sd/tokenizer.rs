//! CLIP's byte-level BPE tokenizer, read from a diffusers `tokenizer/` folder
//! (`vocab.json`, `merges.txt`, optional `tokenizer_config.json`).
//!
//! A port of what `transformers.CLIPTokenizer` does (its tokenizers-library pipeline):
//! whitespace runs become one space, the text is lowercased, CLIP's regex splits it into
//! words (whitespace dropped), each word's UTF-8 bytes are mapped to GPT-2's printable
//! byte alphabet, `</w>` is appended to its last symbol, and merges are applied by rank.
//! Encoding for the text encoder adds `<|startoftext|>` … `<|endoftext|>` and pads or
//! truncates to `model_max_length` (77). Not reproduced: Unicode NFC normalisation (text
//! with decomposed accents can tokenise differently; precomposed text is unaffected).
//!
//! Ported rather than taken from the `tokenizers` crate: that crate would need a
//! `tokenizer.json` (diffusers folders ship vocab and merges) or the pipeline rebuilt from
//! its parts, and brings a C regex library; the port is short and uses `regex`, already a
//! dependency.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;
use serde_json::Value;

use super::files::{invalid, read_json_value, read_text};
use crate::StageError;

const BOS: &str = "<|startoftext|>";
const EOS: &str = "<|endoftext|>";
const END_OF_WORD: &str = "</w>";
/// CLIP's pre-tokenizer: special tokens, contractions, letter runs, single digits,
/// punctuation runs (leftmost alternative wins, as in the reference).
const PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";
const DEFAULT_MAX_LENGTH: usize = 77;

pub struct ClipTokenizer {
    vocab: HashMap<String, u32>,
    /// Merge rank of each symbol pair (lower merges first).
    ranks: HashMap<(String, String), usize>,
    byte_chars: [char; 256],
    pattern: Regex,
    whitespace: Regex,
    bos: u32,
    eos: u32,
    pad: u32,
    max_length: usize,
}

impl ClipTokenizer {
    /// Reads `dir/vocab.json`, `dir/merges.txt` and, when present,
    /// `dir/tokenizer_config.json` (`model_max_length`, `pad_token`).
    pub fn from_dir(dir: &Path) -> Result<Self, StageError> {
        let vocab_path = dir.join("vocab.json");
        let merges_path = dir.join("merges.txt");
        let config_path = dir.join("tokenizer_config.json");
        let vocab = parse_vocab(&vocab_path, &read_json_value(&vocab_path)?)?;
        let ranks = parse_merges(&merges_path, &read_text(&merges_path)?)?;
        let config = if config_path.exists() {
            read_json_value(&config_path)?
        } else {
            Value::Null
        };
        let max_length = match &config["model_max_length"] {
            Value::Null => DEFAULT_MAX_LENGTH,
            value => value
                .as_u64()
                .filter(|&n| (2..=4096).contains(&n))
                .ok_or_else(|| invalid(&config_path, format!("model_max_length {value}")))?
                as usize,
        };
        // A string, or an added-token object with `content`.
        let pad_name = match &config["pad_token"] {
            Value::String(s) => s.as_str(),
            Value::Object(token) => token
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(&config_path, "pad_token has no content"))?,
            _ => EOS,
        };
        let id = |name: &str| {
            vocab
                .get(name)
                .copied()
                .ok_or_else(|| invalid(&vocab_path, format!("it has no token {name:?}")))
        };
        let (bos, eos, pad) = (id(BOS)?, id(EOS)?, id(pad_name)?);
        Ok(Self {
            vocab,
            ranks,
            byte_chars: byte_chars(),
            pattern: Regex::new(PATTERN).expect("a constant pattern"),
            whitespace: Regex::new(r"\s+").expect("a constant pattern"),
            bos,
            eos,
            pad,
            max_length,
        })
    }

    /// Sequence length the text encoder takes (77 for CLIP).
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Token ids of `text`, without start/end tokens.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let text = self.whitespace.replace_all(text, " ").to_lowercase();
        let mut ids = Vec::new();
        for word in self.pattern.find_iter(&text).map(|m| m.as_str()) {
            match word {
                BOS => ids.push(self.bos),
                EOS => ids.push(self.eos),
                _ => {
                    let mapped: String = word
                        .bytes()
                        .map(|b| self.byte_chars[usize::from(b)])
                        .collect();
                    for symbol in self.bpe(&mapped) {
                        // Every byte symbol is in CLIP's vocabulary; the reference maps
                        // anything else to its unknown token, `<|endoftext|>`.
                        ids.push(self.vocab.get(&symbol).copied().unwrap_or(self.eos));
                    }
                }
            }
        }
        ids
    }

    /// What the pipelines feed the text encoder: start token, at most `max_length − 2`
    /// tokens, end token, then padding to `max_length`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(self.max_length);
        ids.push(self.bos);
        ids.extend(self.tokenize(text).into_iter().take(self.max_length - 2));
        ids.push(self.eos);
        ids.resize(self.max_length, self.pad);
        ids
    }

    /// Merges the symbols of one word, lowest-ranked pair first, every occurrence of that
    /// pair left to right per round.
    fn bpe(&self, word: &str) -> Vec<String> {
        let mut symbols: Vec<String> = word.chars().map(String::from).collect();
        if let Some(last) = symbols.last_mut() {
            last.push_str(END_OF_WORD);
        }
        while symbols.len() > 1 {
            let best = symbols
                .windows(2)
                .filter_map(|pair| self.ranks.get(&(pair[0].clone(), pair[1].clone())))
                .min();
            let Some(&best) = best else { break };
            let mut merged = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                let pair_rank = symbols
                    .get(i + 1)
                    .and_then(|next| self.ranks.get(&(symbols[i].clone(), next.clone())));
                if pair_rank == Some(&best) {
                    merged.push(format!("{}{}", symbols[i], symbols[i + 1]));
                    i += 2;
                } else {
                    merged.push(symbols[i].clone());
                    i += 1;
                }
            }
            symbols = merged;
        }
        symbols
    }
}

fn parse_vocab(path: &Path, json: &Value) -> Result<HashMap<String, u32>, StageError> {
    let map = json
        .as_object()
        .ok_or_else(|| invalid(path, "it is not a JSON object of token ids"))?;
    map.iter()
        .map(|(token, id)| {
            id.as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .map(|id| (token.clone(), id))
                .ok_or_else(|| invalid(path, format!("token {token:?} has id {id}")))
        })
        .collect()
}

/// `merges.txt`: an optional `#version` line, then one `left right` pair per line, in
/// rank order.
fn parse_merges(path: &Path, text: &str) -> Result<HashMap<(String, String), usize>, StageError> {
    let mut ranks = HashMap::new();
    let lines = text
        .lines()
        .enumerate()
        .filter(|(i, line)| *i != 0 || !line.starts_with("#version"))
        .filter(|(_, line)| !line.is_empty());
    for (i, line) in lines {
        let mut parts = line.split(' ');
        let (Some(left), Some(right), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid(
                path,
                format!("line {}: {line:?} is not two symbols", i + 1),
            ));
        };
        let rank = ranks.len();
        ranks
            .entry((left.to_owned(), right.to_owned()))
            .or_insert(rank);
    }
    Ok(ranks)
}

/// GPT-2's byte-to-character table: printable Latin-1 bytes map to themselves, the rest
/// to code points from 256 up, in byte order.
fn byte_chars() -> [char; 256] {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut table = ['\0'; 256];
    let mut next = 256;
    for (b, slot) in (0u32..).zip(table.iter_mut()) {
        let code = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        *slot = char::from_u32(code).expect("below the surrogate range");
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_gpt2s() {
        let table = byte_chars();
        assert_eq!(table[usize::from(b'a')], 'a');
        assert_eq!(table[usize::from(b' ')], 'Ġ');
        assert_eq!(table[0], 'Ā');
        assert_eq!(table[173], 'Ń');
        let mut sorted = table.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 256, "one character per byte");
    }

    #[test]
    fn a_malformed_merge_line_names_its_line() {
        let path = Path::new("merges.txt");
        let err = parse_merges(path, "#version: 0.2\na b\nabc\n").unwrap_err();
        assert!(err.to_string().contains("merges.txt"), "{err}");
        assert!(format!("{err:?}").contains("line 3"), "{err:?}");
    }
}
