//! The prompt tokenizer: a fixed word vocabulary, no sub-words. A prompt is lowercased,
//! split on whitespace, stripped of surrounding punctuation (`.,;:!?"'()`), and each word
//! becomes its index in the vocabulary; the sequence is padded with token 0 (`<pad>`) to
//! the context length. The empty prompt is all padding: it is the unconditional input of
//! classifier-free guidance. A word outside the vocabulary is an error naming it.

use crate::StageError;

/// Token 0: padding, and the whole of the empty prompt.
pub const PAD: &str = "<pad>";

/// DreamBooth's rare identifier: a word no generic prompt uses.
pub const IDENTIFIER: &str = "sks";

/// The built-in vocabulary after `<pad>`; class names of the training set and a base
/// stage's `extra_words` are appended (in that order, skipping words already present).
pub const BUILTIN_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "with",
    "without",
    "and",
    "in",
    "image",
    "photo",
    "x-ray",
    "xray",
    "radiograph",
    "scan",
    "chest",
    "lung",
    "lungs",
    "frontal",
    "view",
    "healthy",
    "normal",
    "pneumonia",
    "viral",
    "bacterial",
    "fungal",
    "covid19",
    "covid-19",
    "infection",
    "disease",
    "opacity",
    IDENTIFIER,
];

/// The vocabulary of a new base model: `<pad>`, the built-in words, then `extra`.
pub fn build_vocabulary<'a>(extra: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut words: Vec<String> = std::iter::once(PAD)
        .chain(BUILTIN_WORDS.iter().copied())
        .map(str::to_owned)
        .collect();
    for word in extra {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

/// Splits a prompt into normalised words.
pub fn words(prompt: &str) -> Vec<String> {
    prompt
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| ".,;:!?\"'()".contains(c))
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Token ids of `prompt`, padded to `context_length`.
pub fn tokenize(
    prompt: &str,
    vocabulary: &[String],
    context_length: usize,
) -> Result<Vec<usize>, StageError> {
    let words = words(prompt);
    if words.len() > context_length {
        return Err(StageError::InvalidConfig(format!(
            "prompt {prompt:?} has {} words; the text encoder takes at most {context_length}",
            words.len()
        )));
    }
    let mut ids = Vec::with_capacity(context_length);
    for word in &words {
        let id = vocabulary
            .iter()
            .position(|v| v == word)
            .filter(|&i| i > 0)
            .ok_or_else(|| {
                StageError::InvalidConfig(format!(
                    "prompt {prompt:?}: the word {word:?} is not in the vocabulary \
                     (add it to the base stage's `extra_words`)"
                ))
            })?;
        ids.push(id);
    }
    ids.resize(context_length, 0);
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_become_padded_word_ids() {
        let vocab = build_vocabulary(["viral", "effusion"]);
        assert_eq!(vocab[0], PAD);
        assert_eq!(vocab.last().map(String::as_str), Some("effusion"));
        let ids = tokenize(
            "An X-ray image of the lung, with viral pneumonia.",
            &vocab,
            12,
        )
        .expect("known words");
        assert_eq!(ids.len(), 12);
        let back: Vec<&str> = ids[..9].iter().map(|&i| vocab[i].as_str()).collect();
        assert_eq!(
            back,
            [
                "an",
                "x-ray",
                "image",
                "of",
                "the",
                "lung",
                "with",
                "viral",
                "pneumonia"
            ]
        );
        assert!(ids[9..].iter().all(|&i| i == 0));
        assert_eq!(tokenize("", &vocab, 4).expect("empty"), [0, 0, 0, 0]);
    }

    #[test]
    fn an_unknown_word_is_named() {
        let vocab = build_vocabulary([]);
        let err = tokenize("a lung with zebras", &vocab, 8)
            .expect_err("unknown word")
            .to_string();
        assert!(err.contains("\"zebras\""), "{err}");
        let err = tokenize("a a a", &vocab, 2)
            .expect_err("too long")
            .to_string();
        assert!(err.contains("at most 2"), "{err}");
        // The padding token is not a word.
        assert!(tokenize("<pad>", &vocab, 2).is_err());
    }
}
