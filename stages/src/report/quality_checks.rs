//! Memorisation and class fidelity per generator, read from `score.quality` artifacts
//! (older artifacts without them give empty rows).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

/// Largest closest-pair image the report embeds (they are small PNGs of the study size).
const MAX_PNG_BYTES: u64 = 4 << 20;

#[derive(Serialize, Debug, Clone, PartialEq, Default)]
pub struct QualityCheck {
    pub generator: String,
    /// Synthetic images nearer to a training image than the real-to-real 5 % quantile.
    pub near_copy_fraction: Option<f64>,
    /// The same fraction among real images (the baseline, ≈ 0.05).
    pub real_near_copy_fraction: Option<f64>,
    pub near_copy_threshold: Option<f64>,
    /// Median nearest-real-image distance: synthetic → real, and real → other real.
    pub synthetic_median_distance: Option<f64>,
    pub real_median_distance: Option<f64>,
    /// Accuracy of the real-trained classifier on the synthetic images.
    pub class_fidelity: Option<f64>,
    pub class_fidelity_per_class: BTreeMap<String, f64>,
    /// Why a part is missing, when the artifact says.
    pub skipped: Vec<String>,
    #[serde(skip)]
    pub closest: Vec<ClosePairImages>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClosePairImages {
    pub synthetic_class: String,
    pub real_class: String,
    pub distance: f64,
    pub synthetic_png: Vec<u8>,
    pub real_png: Vec<u8>,
}

/// Reads the checks of one `score.quality` artifact (`value` is its metrics.json).
pub fn read_quality_check(
    dir: &Path,
    generator: &str,
    value: &serde_json::Value,
) -> Result<QualityCheck, String> {
    let mut check = QualityCheck {
        generator: generator.to_owned(),
        ..QualityCheck::default()
    };
    let memo = &value["memorisation"];
    if let Some(reason) = memo["skipped"].as_str() {
        check.skipped.push(format!("memorisation: {reason}"));
    }
    check.near_copy_fraction = memo["near_copy_fraction"].as_f64();
    check.real_near_copy_fraction = memo["real_near_copy_fraction"].as_f64();
    check.near_copy_threshold = memo["near_copy_threshold"].as_f64();
    check.synthetic_median_distance = memo["synthetic_to_real"]["median"].as_f64();
    check.real_median_distance = memo["real_to_real"]["median"].as_f64();
    for pair in memo["closest"].as_array().into_iter().flatten() {
        let image = |field: &str| -> Result<Vec<u8>, String> {
            let rel = pair[field].as_str().unwrap_or_default();
            // Only the copies score.quality wrote: closest/<file>, never a path out.
            let name = rel.strip_prefix("closest/").unwrap_or_default();
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(format!(
                    "use closest-pair path `{rel}`: not a file in closest/"
                ));
            }
            read_bounded(&dir.join("closest").join(name))
        };
        check.closest.push(ClosePairImages {
            synthetic_class: pair["synthetic_class"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            real_class: pair["real_class"].as_str().unwrap_or_default().to_owned(),
            distance: pair["distance"].as_f64().unwrap_or(f64::NAN),
            synthetic_png: image("synthetic_copy")?,
            real_png: image("real_copy")?,
        });
    }
    let fidelity = &value["class_fidelity"];
    if let Some(reason) = fidelity["skipped"].as_str() {
        check.skipped.push(format!("class fidelity: {reason}"));
    }
    check.class_fidelity = fidelity["accuracy"].as_f64();
    if let Some(per_class) = fidelity["per_class_accuracy"].as_object() {
        check.class_fidelity_per_class = per_class
            .iter()
            .filter_map(|(class, v)| Some((class.clone(), v.as_f64()?)))
            .collect();
    }
    Ok(check)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).map_err(|err| format!("read {}: {err}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PNG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("read {}: {err}", path.display()))?;
    if bytes.len() as u64 > MAX_PNG_BYTES {
        return Err(format!(
            "read {}: larger than {MAX_PNG_BYTES} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}
