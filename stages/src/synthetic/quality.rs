//! `score.quality`: how close a synthetic image set is to the real one, per class and
//! overall: FID, KID, precision/recall/density/coverage in a feature space, and the
//! MS-SSIM diversity of the synthetic images (and of the real ones, for scale).
//!
//! The feature space (`features`) is either
//! - `domain`: the penultimate layer of a classifier trained on the real training set
//!   ("domain FID"): numbers compare generators within a study, not with published
//!   Inception FIDs; or
//! - `inception`: pytorch-fid's FID Inception-v3 pool3 features from a weights file
//!   ([`FidInception`]); with the standard `pt_inception-2015-12-05` weights, FID is
//!   comparable with published FIDs (up to the usual caveats: image count, resizing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::memorisation::{ClassFidelity, Embedded, Memorisation, class_fidelity, memorisation};
use crate::StageError;
use crate::backend::SelectedDevice;
use crate::classifiers::data::load_image_set;
use crate::classifiers::{Embeddings, embed, predict};
use crate::image_set::ImageSetManifest;
use crate::metrics::quality::inception::{FEATURE_DIM, FidInception};
use crate::metrics::quality::{
    DEFAULT_NEAREST_K, GrayImage, KidConfig, frechet_distance, kid, mean_pairwise_ms_ssim, prdc,
};

/// Version of [`score_quality`]'s output.
///
/// Bump this whenever the same sets, feature model or weights, config and seed would give
/// different metrics (2: `fid_name`, Inception features, FID through n×n matrices when a
/// group has fewer images than features; 3: memorisation and class fidelity).
pub const QUALITY_VERSION: u32 = 3;

/// The feature space of FID, KID and precision/recall/density/coverage.
#[derive(
    Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSpace {
    /// The penultimate layer of a classifier trained on the real training set.
    #[default]
    Domain,
    /// pytorch-fid's FID Inception-v3 (2048-d pool3), weights from `inception_weights`.
    Inception,
}

impl FeatureSpace {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::Inception => "inception",
        }
    }
}

/// Config of `score.quality`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Which features FID, KID and PRDC are computed in.
    pub features: FeatureSpace,
    /// The FID Inception-v3 weights (safetensors with pytorch-fid's names); required
    /// with `features: inception`, refused otherwise.
    pub inception_weights: Option<PathBuf>,
    /// KID: subsets and samples per subset (capped by the smaller set).
    pub kid_subsets: usize,
    pub kid_subset_size: usize,
    /// k of the k-NN balls of precision/recall/density/coverage.
    pub nearest_k: usize,
    /// Random pairs for the mean pairwise MS-SSIM.
    pub ms_ssim_pairs: usize,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            features: FeatureSpace::Domain,
            inception_weights: None,
            kid_subsets: 100,
            kid_subset_size: 1000,
            nearest_k: DEFAULT_NEAREST_K,
            ms_ssim_pairs: 1000,
        }
    }
}

impl QualityConfig {
    /// Checks what deserialisation cannot: the weights file goes with `inception` only.
    pub fn validate(&self) -> Result<(), StageError> {
        match (self.features, &self.inception_weights) {
            (FeatureSpace::Inception, None) => Err(StageError::InvalidConfig(
                "`features: inception` needs `inception_weights`: the FID Inception-v3 \
                 weights as safetensors (see docs/pipelines.md, score.quality)"
                    .to_owned(),
            )),
            (FeatureSpace::Domain, Some(_)) => Err(StageError::InvalidConfig(
                "`inception_weights` is only used with `features: inception`".to_owned(),
            )),
            _ => Ok(()),
        }
    }
}

/// One metric, or why it could not be computed (e.g. too few images).
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum Metric<T> {
    Value(T),
    Skipped { skipped: String },
}

impl<T> Metric<T> {
    fn from(result: Result<T, StageError>) -> Self {
        match result {
            Ok(value) => Self::Value(value),
            Err(err) => Self::Skipped {
                skipped: err.to_string(),
            },
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct KidValue {
    pub mean: f64,
    pub std: f64,
    pub subset_size: usize,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PrdcValue {
    pub precision: f64,
    pub recall: f64,
    pub density: f64,
    pub coverage: f64,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct DiversityValue {
    /// Mean MS-SSIM over random pairs: lower is more diverse.
    pub mean: f64,
    pub pairs: usize,
    pub scales: usize,
}

/// The metrics of one group of images (a class, or all of them).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct GroupQuality {
    pub real_images: usize,
    pub synthetic_images: usize,
    pub fid: Metric<f64>,
    pub kid: Metric<KidValue>,
    pub prdc: Metric<PrdcValue>,
    pub synthetic_ms_ssim: Metric<DiversityValue>,
    pub real_ms_ssim: Metric<DiversityValue>,
}

/// Contents of a `score.quality` metrics artifact.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct QualityReport {
    /// "domain" (features of the given classifier) or "inception" (FID Inception-v3).
    pub feature_space: String,
    /// What the `fid` values are: "domain fid" (comparable between generators scored
    /// with the same feature classifier only) or "fid" (Inception pool3 features;
    /// comparable with published FIDs when the weights are `pt_inception-2015-12-05`).
    pub fid_name: String,
    pub feature_dim: usize,
    pub per_class: BTreeMap<String, GroupQuality>,
    pub overall: GroupQuality,
    /// Mean of the per-class FIDs that could be computed (the study's headline number).
    pub mean_class_fid: Option<f64>,
    /// Nearest real training image of each synthetic image, in the same feature space.
    pub memorisation: Metric<Memorisation>,
    /// The `features` classifier (trained on real images only) on the synthetic images.
    pub class_fidelity: Metric<ClassFidelity>,
    pub device: String,
}

/// Scores the synthetic set in `synthetic_dir` against the real set in `real_dir`, in the
/// feature space `cfg.features`: that of the classifier in `features_model_dir` (needed
/// for `domain` only) or the FID Inception-v3's. The closest synthetic–real pairs are
/// copied into `out_dir/closest/`.
pub fn score_quality(
    real_dir: &Path,
    synthetic_dir: &Path,
    features_model_dir: Option<&Path>,
    cfg: &QualityConfig,
    seed: u64,
    device: &SelectedDevice,
    out_dir: &Path,
) -> Result<QualityReport, StageError> {
    cfg.validate()?;
    let (real_classes, real_images) = gray_images(real_dir, None)?;
    let (_, synthetic_images) = gray_images(synthetic_dir, Some(&real_classes))?;
    let (real, synthetic, fid_name, feature_dim) = match (cfg.features, &cfg.inception_weights) {
        (FeatureSpace::Inception, Some(weights)) => {
            let net = FidInception::load(weights, &device.device)?;
            tracing::info!(
                images = real_images.labels.len() + synthetic_images.labels.len(),
                "embedding with the FID Inception-v3"
            );
            let embed = |set: &GraySet| -> Result<Embeddings, StageError> {
                Ok(Embeddings {
                    classes: real_classes.clone(),
                    labels: set.labels.clone(),
                    features: net.features(&set.images)?,
                })
            };
            let real = embed(&real_images)?;
            (real, embed(&synthetic_images)?, "fid", FEATURE_DIM)
        }
        _ => {
            let model = features_model_dir.ok_or_else(|| {
                StageError::InvalidConfig(
                    "`features: domain` needs a feature classifier (the `features` input)"
                        .to_owned(),
                )
            })?;
            let real = embed(model, real_dir, device)?;
            let synthetic = embed(model, synthetic_dir, device)?;
            let dim = real.features.first().map_or(0, Vec::len);
            (real, synthetic, "domain fid", dim)
        }
    };
    let paths = |dir: &Path| -> Result<Vec<String>, StageError> {
        Ok(ImageSetManifest::read(dir)?
            .images
            .into_iter()
            .map(|r| r.path)
            .collect())
    };
    let (real_paths, synthetic_paths) = (paths(real_dir)?, paths(synthetic_dir)?);
    let memorisation = Metric::from(memorisation(
        &Embedded {
            features: &real.features,
            labels: &real.labels,
            paths: &real_paths,
        },
        &Embedded {
            features: &synthetic.features,
            labels: &synthetic.labels,
            paths: &synthetic_paths,
        },
        &real.classes,
        (real_dir, synthetic_dir),
        out_dir,
    ));
    let class_fidelity = match features_model_dir {
        Some(model) => {
            Metric::from(predict(model, synthetic_dir, device).map(|p| class_fidelity(&p)))
        }
        None => Metric::Skipped {
            skipped: "class fidelity needs the `features` input (a classifier trained on \
                      the real training set)"
                .to_owned(),
        },
    };
    let (real_images, synthetic_images) = (real_images.images, synthetic_images.images);
    let mut per_class = BTreeMap::new();
    for (index, class) in real.classes.iter().enumerate() {
        let pick = |labels: &[usize]| -> Vec<usize> {
            (0..labels.len()).filter(|&i| labels[i] == index).collect()
        };
        let (r, s) = (pick(&real.labels), pick(&synthetic.labels));
        if s.is_empty() {
            continue;
        }
        let group = Group {
            real: r.iter().map(|&i| real.features[i].clone()).collect(),
            synthetic: s.iter().map(|&i| synthetic.features[i].clone()).collect(),
            real_images: r.iter().map(|&i| real_images[i].clone()).collect(),
            synthetic_images: s.iter().map(|&i| synthetic_images[i].clone()).collect(),
        };
        per_class.insert(class.clone(), group.score(cfg, seed));
    }
    let overall = Group {
        real: real.features,
        synthetic: synthetic.features,
        real_images,
        synthetic_images,
    }
    .score(cfg, seed);
    let fids: Vec<f64> = per_class
        .values()
        .filter_map(|g| match g.fid {
            Metric::Value(v) => Some(v),
            Metric::Skipped { .. } => None,
        })
        .collect();
    Ok(QualityReport {
        feature_space: cfg.features.as_str().to_owned(),
        fid_name: fid_name.to_owned(),
        feature_dim,
        mean_class_fid: (!fids.is_empty()).then(|| fids.iter().sum::<f64>() / fids.len() as f64),
        per_class,
        overall,
        memorisation,
        class_fidelity,
        device: device.name.clone(),
    })
}

struct Group {
    real: Vec<Vec<f32>>,
    synthetic: Vec<Vec<f32>>,
    real_images: Vec<GrayImage>,
    synthetic_images: Vec<GrayImage>,
}

impl Group {
    fn score(&self, cfg: &QualityConfig, seed: u64) -> GroupQuality {
        let kid_cfg = KidConfig {
            subsets: cfg.kid_subsets,
            subset_size: cfg.kid_subset_size,
            seed,
        };
        let diversity = |images: &[GrayImage]| {
            Metric::from(
                mean_pairwise_ms_ssim(images, cfg.ms_ssim_pairs, seed).map(|d| DiversityValue {
                    mean: d.mean,
                    pairs: d.pairs,
                    scales: d.scales,
                }),
            )
        };
        GroupQuality {
            real_images: self.real.len(),
            synthetic_images: self.synthetic.len(),
            fid: Metric::from(frechet_distance(&self.real, &self.synthetic)),
            kid: Metric::from(
                kid(&self.real, &self.synthetic, &kid_cfg).map(|k| KidValue {
                    mean: k.mean,
                    std: k.std,
                    subset_size: k.subset_size,
                }),
            ),
            prdc: Metric::from(prdc(&self.real, &self.synthetic, cfg.nearest_k).map(|p| {
                PrdcValue {
                    precision: p.precision,
                    recall: p.recall,
                    density: p.density,
                    coverage: p.coverage,
                }
            })),
            synthetic_ms_ssim: diversity(&self.synthetic_images),
            real_ms_ssim: diversity(&self.real_images),
        }
    }
}

/// An image set's images at its manifest size, in manifest order, with their labels.
struct GraySet {
    labels: Vec<usize>,
    images: Vec<GrayImage>,
}

/// Loads the set in `dir` for MS-SSIM and the Inception. Labels index `classes` when
/// given (an image of another class is an error), else the set's own classes, which
/// are returned.
fn gray_images(
    dir: &Path,
    classes: Option<&[String]>,
) -> Result<(Vec<String>, GraySet), StageError> {
    let manifest = ImageSetManifest::read(dir)?;
    let set = load_image_set(dir, manifest.width.max(manifest.height), classes)?;
    let images = set
        .pixels
        .iter()
        .map(|p| GrayImage::from_u8(set.size, set.size, p))
        .collect::<Result<_, _>>()?;
    Ok((
        set.classes,
        GraySet {
            labels: set.labels,
            images,
        },
    ))
}
