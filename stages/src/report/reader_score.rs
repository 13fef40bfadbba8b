//! `score.reader_study`: the readers' answers against the page's key. Mean realism rating
//! per source (the paper's 3.62 / 3.27 / 2.94 / 1.64 / 1.31 per generator), the readers'
//! real-vs-synthetic accuracy with a Wilson interval, and inter-reader agreement (Fleiss'
//! κ over the images every reader answered) when there are several readers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::reader_page::{FORMAT, Key};

/// Largest answers file read (a page of a few hundred images answers in a few kB).
const MAX_ANSWERS_BYTES: u64 = 4 << 20;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct AnswersFile {
    format: String,
    study: String,
    reader: String,
    answers: Vec<Answer>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Answer {
    id: String,
    rating: Option<f64>,
    guess: Option<String>,
}

/// One image's answer: the rating 1–5 and whether the reader called it real.
pub type ItemAnswer = (Option<u8>, Option<bool>);

/// One reader's checked answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reader {
    pub name: String,
    /// Item id → answer.
    pub answers: BTreeMap<String, ItemAnswer>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct RatingRow {
    pub source: String,
    pub mean_rating: f64,
    pub ratings: usize,
    /// Fraction of this source's images the readers called real.
    pub called_real: f64,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Proportion {
    pub value: f64,
    /// 95 % Wilson score interval.
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: usize,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ReaderScores {
    pub readers: Vec<String>,
    pub items: usize,
    /// Best-rated source first.
    pub ratings: Vec<RatingRow>,
    /// Real-vs-synthetic guesses that were right, over every reader and image.
    pub accuracy: Option<Proportion>,
    pub accuracy_per_reader: BTreeMap<String, Proportion>,
    /// Fleiss' κ of the guesses and of the ratings (as 5 categories); with ≥ 2 readers.
    pub kappa_guess: Option<f64>,
    pub kappa_rating: Option<f64>,
    pub kappa_items: usize,
}

/// Reads one answers file, checked against `key`. Errors name the file and the value.
pub fn read_answers(path: &Path, key: &Key) -> Result<Reader, String> {
    use std::io::Read as _;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|err| format!("read {shown}: {err}"))?;
    let mut text = String::new();
    file.take(MAX_ANSWERS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|err| format!("read {shown}: {err}"))?;
    if text.len() as u64 > MAX_ANSWERS_BYTES {
        return Err(format!(
            "read {shown}: larger than {MAX_ANSWERS_BYTES} bytes"
        ));
    }
    let parsed: AnswersFile = serde_json::from_str(&text)
        .map_err(|err| format!("parse {shown}:{}:{}: {err}", err.line(), err.column()))?;
    if parsed.format != FORMAT {
        return Err(format!(
            "read {shown}: format {:?} is not {FORMAT:?}",
            parsed.format
        ));
    }
    if parsed.study != key.study {
        return Err(format!(
            "read {shown}: it answers study {:?}, but this page is {:?}",
            parsed.study, key.study
        ));
    }
    let known: BTreeSet<&str> = key.items.iter().map(|i| i.id.as_str()).collect();
    let mut answers = BTreeMap::new();
    for answer in parsed.answers {
        if !known.contains(answer.id.as_str()) {
            return Err(format!("read {shown}: unknown image id {:?}", answer.id));
        }
        let rating = match answer.rating {
            None => None,
            Some(r) if r.fract() == 0.0 && (1.0..=5.0).contains(&r) => Some(r as u8),
            Some(r) => {
                return Err(format!(
                    "read {shown}: rating {r} of {:?} is not 1, 2, 3, 4 or 5",
                    answer.id
                ));
            }
        };
        let guess = match answer.guess.as_deref() {
            None => None,
            Some("real") => Some(true),
            Some("synthetic") => Some(false),
            Some(other) => {
                return Err(format!(
                    "read {shown}: guess {other:?} of {:?} is not \"real\" or \"synthetic\"",
                    answer.id
                ));
            }
        };
        if answers.insert(answer.id.clone(), (rating, guess)).is_some() {
            return Err(format!(
                "read {shown}: image {:?} is answered twice",
                answer.id
            ));
        }
    }
    let name = if parsed.reader.trim().is_empty() {
        path.file_stem()
            .map_or_else(|| "reader".to_owned(), |s| s.to_string_lossy().into_owned())
    } else {
        parsed.reader.trim().to_owned()
    };
    Ok(Reader { name, answers })
}

/// Wilson's 95 % interval for `hits` of `n`.
fn wilson(hits: usize, n: usize) -> Proportion {
    let z = 1.959_963_984_540_054_f64;
    let nf = n as f64;
    let p = hits as f64 / nf;
    let centre = (p + z * z / (2.0 * nf)) / (1.0 + z * z / nf);
    let half = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / (1.0 + z * z / nf);
    Proportion {
        value: p,
        ci_low: (centre - half).max(0.0),
        ci_high: (centre + half).min(1.0),
        n,
    }
}

/// Fleiss' κ: `counts[item][category]`, each item rated by the same number of readers.
fn fleiss_kappa(counts: &[Vec<usize>]) -> Option<f64> {
    let raters: usize = counts.first()?.iter().sum();
    if raters < 2 {
        return None;
    }
    let (n, r) = (counts.len() as f64, raters as f64);
    let categories = counts[0].len();
    let p_j: Vec<f64> = (0..categories)
        .map(|j| counts.iter().map(|c| c[j]).sum::<usize>() as f64 / (n * r))
        .collect();
    let p_bar = counts
        .iter()
        .map(|c| c.iter().map(|&k| (k * k) as f64).sum::<f64>() - r)
        .sum::<f64>()
        / (n * r * (r - 1.0));
    let p_e: f64 = p_j.iter().map(|p| p * p).sum();
    (p_e < 1.0).then(|| (p_bar - p_e) / (1.0 - p_e))
}

/// Scores every reader's answers against `key`.
pub fn score(key: &Key, readers: &[Reader]) -> ReaderScores {
    let mut by_source: BTreeMap<&str, (f64, usize, usize, usize)> = BTreeMap::new();
    let (mut right, mut guessed) = (0, 0);
    let mut per_reader = BTreeMap::new();
    for reader in readers {
        let (mut r_right, mut r_guessed) = (0, 0);
        for item in &key.items {
            let Some(&(rating, guess)) = reader.answers.get(&item.id) else {
                continue;
            };
            let entry = by_source.entry(&item.source).or_default();
            if let Some(rating) = rating {
                entry.0 += f64::from(rating);
                entry.1 += 1;
            }
            if let Some(real) = guess {
                entry.2 += usize::from(real);
                entry.3 += 1;
                let correct = real == (item.source == "real");
                r_right += usize::from(correct);
                r_guessed += 1;
            }
        }
        right += r_right;
        guessed += r_guessed;
        if r_guessed > 0 {
            per_reader.insert(reader.name.clone(), wilson(r_right, r_guessed));
        }
    }
    let mut ratings: Vec<RatingRow> = by_source
        .iter()
        .filter(|(_, (_, n, _, _))| *n > 0)
        .map(|(source, (sum, n, real, guesses))| RatingRow {
            source: (*source).to_owned(),
            mean_rating: sum / *n as f64,
            ratings: *n,
            called_real: *real as f64 / (*guesses).max(1) as f64,
        })
        .collect();
    ratings.sort_by(|a, b| b.mean_rating.total_cmp(&a.mean_rating));
    // Agreement over the images every reader answered in full.
    let complete: Vec<&str> = key
        .items
        .iter()
        .map(|i| i.id.as_str())
        .filter(|id| {
            readers.iter().all(|r| {
                r.answers
                    .get(*id)
                    .is_some_and(|(rating, guess)| rating.is_some() && guess.is_some())
            })
        })
        .collect();
    let counts = |category: &dyn Fn(&ItemAnswer) -> usize, k: usize| {
        complete
            .iter()
            .map(|id| {
                let mut row = vec![0; k];
                for r in readers {
                    row[category(&r.answers[*id])] += 1;
                }
                row
            })
            .collect::<Vec<_>>()
    };
    let several = readers.len() >= 2 && !complete.is_empty();
    ReaderScores {
        readers: readers.iter().map(|r| r.name.clone()).collect(),
        items: key.items.len(),
        ratings,
        accuracy: (guessed > 0).then(|| wilson(right, guessed)),
        accuracy_per_reader: per_reader,
        kappa_guess: several
            .then(|| fleiss_kappa(&counts(&|a| usize::from(a.1 == Some(true)), 2)))
            .flatten(),
        kappa_rating: several
            .then(|| {
                fleiss_kappa(&counts(
                    &|a| usize::from(a.0.unwrap_or(1)).saturating_sub(1),
                    5,
                ))
            })
            .flatten(),
        kappa_items: complete.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_closed_form() {
        // 8 of 10: Wilson 95 % is [0.4902, 0.9433] (e.g. statsmodels proportion_confint).
        let p = wilson(8, 10);
        assert!((p.ci_low - 0.4902).abs() < 1e-4, "{p:?}");
        assert!((p.ci_high - 0.9433).abs() < 1e-4, "{p:?}");
    }

    #[test]
    fn fleiss_kappa_of_the_textbook_example() {
        // Fleiss (1971) as on Wikipedia: 10 items, 14 raters, 5 categories → κ = 0.210.
        let table = [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ];
        let counts: Vec<Vec<usize>> = table.iter().map(|r| r.to_vec()).collect();
        assert!((fleiss_kappa(&counts).unwrap() - 0.210).abs() < 5e-4);
        // Perfect agreement on varied items is 1.
        let agree = vec![vec![3, 0], vec![0, 3], vec![3, 0]];
        assert!((fleiss_kappa(&agree).unwrap() - 1.0).abs() < 1e-12);
    }
}
