//! The reader study page: a self-contained HTML file with a blinded, shuffled mix of real
//! and synthetic images, a 1–5 realism rating and a "real or synthetic?" guess per image,
//! and a button that downloads the answers as JSON. The key (which image came from where)
//! stays beside the page in `key.json`, never in it.

use std::fmt::Write as _;

use base64::Engine as _;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::markup::escape;

/// The `format` field of the answers file and of the key.
pub const FORMAT: &str = "augflow-reader-study";

/// One image of the study: where it came from (hidden from the reader).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct KeyItem {
    /// Shown to the reader; says nothing about the source.
    pub id: String,
    /// "real" or the generator's name.
    pub source: String,
    pub class: String,
    /// The image's path inside its image set.
    pub path: String,
}

/// `key.json`: the items in page order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Key {
    pub format: String,
    /// Digest of the items; the answers file repeats it, so answers to another page are
    /// refused.
    pub study: String,
    pub items: Vec<KeyItem>,
}

/// An image to show, with its PNG bytes.
pub struct Candidate {
    pub source: String,
    pub class: String,
    pub path: String,
    pub png: Vec<u8>,
}

/// Shuffles `candidates` with `seed` and numbers them in page order.
pub fn blind(mut candidates: Vec<Candidate>, seed: u64) -> (Key, Vec<Candidate>) {
    candidates.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let items: Vec<KeyItem> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| KeyItem {
            id: format!("img-{:03}", i + 1),
            source: c.source.clone(),
            class: c.class.clone(),
            path: c.path.clone(),
        })
        .collect();
    let digest = blake3::hash(
        &serde_json::to_vec(&items).unwrap_or_default(), // a Vec of strings always serialises
    );
    let key = Key {
        format: FORMAT.to_owned(),
        study: digest.to_hex()[..16].to_owned(),
        items,
    };
    (key, candidates)
}

/// The page for `key` (its items in order, with the images of `shown`).
pub fn page(key: &Key, shown: &[Candidate], title: &str) -> String {
    let mut out = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>body{{font-family:sans-serif;margin:2em;max-width:900px}}.item{{display:flex;gap:1.5em;align-items:center;border-bottom:1px solid #ddd;padding:.8em 0}}.item img{{width:256px;height:256px;image-rendering:pixelated;background:#000}}fieldset{{border:none;margin:0;padding:.2em 0}}label{{margin-right:.8em}}#bar{{position:sticky;top:0;background:#fff;padding:.6em 0;border-bottom:2px solid #333}}</style></head><body><h1>{title}</h1><p>Each image is a chest radiograph, real or generated, in random order. Rate how realistic it looks from 1 (clearly artificial) to 5 (indistinguishable from a real radiograph), and say whether you think it is real. The class of the image is not shown. When done, press <b>Download answers</b> and send the file back.</p><div id=\"bar\"><label>Reader <input id=\"reader\" placeholder=\"your initials\"></label> <button id=\"download\" type=\"button\">Download answers</button> <span id=\"count\"></span></div>",
        title = escape(title)
    );
    for (item, candidate) in key.items.iter().zip(shown) {
        let id = escape(&item.id);
        let _ = write!(
            out,
            "<div class=\"item\" data-id=\"{id}\"><img alt=\"{id}\" src=\"data:image/png;base64,{}\"><div><b>{id}</b><fieldset><legend>Realism</legend>",
            base64::engine::general_purpose::STANDARD.encode(&candidate.png)
        );
        for rating in 1..=5 {
            let _ = write!(
                out,
                "<label><input type=\"radio\" name=\"r-{id}\" value=\"{rating}\">{rating}</label>"
            );
        }
        let _ = write!(
            out,
            "</fieldset><fieldset><legend>Real or synthetic?</legend><label><input type=\"radio\" name=\"g-{id}\" value=\"real\">real</label><label><input type=\"radio\" name=\"g-{id}\" value=\"synthetic\">synthetic</label></fieldset></div></div>"
        );
    }
    let _ = write!(
        out,
        "<script>\nconst STUDY = {study};\nfunction augflowAnswers() {{\n  const answers = [...document.querySelectorAll('.item')].map(el => {{\n    const id = el.dataset.id;\n    const r = el.querySelector('input[name=\"r-' + id + '\"]:checked');\n    const g = el.querySelector('input[name=\"g-' + id + '\"]:checked');\n    return {{id: id, rating: r ? Number(r.value) : null, guess: g ? g.value : null}};\n  }});\n  return JSON.stringify({{format: {format}, study: STUDY, reader: document.getElementById('reader').value, answers: answers}}, null, 1);\n}}\nfunction augflowCount() {{\n  const done = [...document.querySelectorAll('.item')].filter(el => el.querySelectorAll('input:checked').length == 2).length;\n  document.getElementById('count').textContent = done + ' of {total} answered';\n}}\ndocument.addEventListener('change', augflowCount);\ndocument.getElementById('download').addEventListener('click', () => {{\n  const reader = document.getElementById('reader').value || 'anonymous';\n  const a = document.createElement('a');\n  a.href = URL.createObjectURL(new Blob([augflowAnswers()], {{type: 'application/json'}}));\n  a.download = 'reader-study-' + reader.replace(/[^A-Za-z0-9_-]/g, '_') + '.json';\n  a.click();\n}});\naugflowCount();\n</script></body></html>\n",
        study = serde_json::Value::from(key.study.clone()),
        format = serde_json::Value::from(FORMAT),
        total = key.items.len(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(source: &str, i: usize) -> Candidate {
        Candidate {
            source: source.to_owned(),
            class: "viral".to_owned(),
            path: format!("images/viral/{source}-{i}.png"),
            png: vec![1, 2, 3],
        }
    }

    #[test]
    fn the_page_hides_the_sources_and_the_key_keeps_them_in_page_order() {
        let candidates: Vec<Candidate> = (0..4)
            .map(|i| candidate("real", i))
            .chain((0..4).map(|i| candidate("gan", i)))
            .collect();
        let (key, shown) = blind(candidates, 3);
        assert_eq!(key.items.len(), 8);
        for (item, c) in key.items.iter().zip(&shown) {
            assert_eq!((&item.source, &item.path), (&c.source, &c.path));
        }
        let sources: Vec<&str> = key.items.iter().map(|i| i.source.as_str()).collect();
        assert_ne!(
            sources,
            ["real", "real", "real", "real", "gan", "gan", "gan", "gan"]
        );
        let html = page(&key, &shown, "Reader study");
        assert!(!html.contains("gan") && !html.contains("real-"), "{html}");
        assert!(!html.contains("viral"));
        assert!(html.contains(&key.study));
        let (again, _) = blind((0..4).map(|i| candidate("real", i)).collect(), 3);
        assert_ne!(again.study, key.study);
    }
}
