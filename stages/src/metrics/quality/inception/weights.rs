//! Where the network's weights come from: a safetensors file with pytorch-fid's
//! state-dict names, checked tensor by tensor, or a recorder that lists what such a file
//! must hold.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use burn::tensor::Device;

use crate::StageError;
use crate::classifiers::pretrained::{RawTensor, parse};
use crate::weights::tensor_names_problem;

/// BatchNorm epsilon of every `BasicConv2d` (torchvision's Inception3, as TensorFlow's).
const BN_EPS: f64 = 0.001;

/// The classifier head of `pt_inception-2015-12-05`: 1008 TensorFlow classes. Present in
/// a converted file and unused; its shape tells the FID weights from torchvision's
/// ImageNet Inception-v3 (1000 classes), which has the same tensor names.
const FC_WEIGHT_SHAPE: [usize; 2] = [1008, 2048];

/// The suffixes and shapes of one `BasicConv2d`'s tensors, for `out` channels.
pub(super) fn conv_tensors(name: &str, weight: [usize; 4]) -> Vec<(String, Vec<usize>)> {
    let out = vec![weight[0]];
    vec![
        (format!("{name}.conv.weight"), weight.to_vec()),
        (format!("{name}.bn.weight"), out.clone()),
        (format!("{name}.bn.bias"), out.clone()),
        (format!("{name}.bn.running_mean"), out.clone()),
        (format!("{name}.bn.running_var"), out),
    ]
}

/// Folded weights of one `BasicConv2d`, on the host.
pub(super) struct FoldedConv {
    /// `[out, in, kh, kw]`, row-major.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// What the network asks for while it is built.
pub(super) trait WeightSource {
    /// The device the network's tensors go to.
    fn device(&self) -> &Device;
    /// The folded weights of `BasicConv2d` `name` with a `[out, in, kh, kw]` kernel, or
    /// `None` when they are unavailable (the source records why).
    fn conv(&mut self, name: &str, weight: [usize; 4]) -> Option<FoldedConv>;
}

/// Lists the tensors the network needs, without loading anything.
pub(super) struct Recorder {
    device: Device,
    pub expected: Vec<(String, Vec<usize>)>,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            device: Device::flex(),
            expected: Vec::new(),
        }
    }
}

impl WeightSource for Recorder {
    fn device(&self) -> &Device {
        &self.device
    }

    fn conv(&mut self, name: &str, weight: [usize; 4]) -> Option<FoldedConv> {
        self.expected.extend(conv_tensors(name, weight));
        None
    }
}

/// The tensors of a weights file, handed out by name with their shapes checked.
pub(super) struct FileWeights {
    device: Device,
    tensors: BTreeMap<String, RawTensor>,
    used: BTreeSet<String>,
    missing: Vec<String>,
    mismatched: Vec<String>,
}

impl FileWeights {
    pub fn read(path: &Path, device: &Device) -> Result<Self, StageError> {
        let bytes = fs::read(path).map_err(|source| StageError::Read {
            path: path.to_owned(),
            source,
        })?;
        let tensors = parse(&bytes).map_err(|reason| StageError::LoadWeights {
            path: path.to_owned(),
            reason,
        })?;
        Ok(Self {
            device: device.clone(),
            tensors,
            used: BTreeSet::new(),
            missing: Vec::new(),
            mismatched: Vec::new(),
        })
    }

    fn take(&mut self, name: &str, shape: &[usize]) -> Option<&[f32]> {
        let Some(tensor) = self.tensors.get(name) else {
            self.missing.push(name.to_owned());
            return None;
        };
        self.used.insert(name.to_owned());
        if tensor.shape != shape {
            self.mismatched.push(format!(
                "`{name}` has shape {:?}, expected {shape:?}",
                tensor.shape
            ));
            return None;
        }
        Some(&tensor.values)
    }

    /// Every problem found while the network took its tensors, plus tensors it did not
    /// take (other than the unused head), as one error naming the file.
    pub fn finish(self, path: &Path) -> Result<(), StageError> {
        let mut problems = Vec::new();
        problems.extend(tensor_names_problem("missing", &self.missing));
        problems.extend(self.mismatched.iter().cloned());
        if let Some(fc) = self.tensors.get("fc.weight")
            && fc.shape != FC_WEIGHT_SHAPE
        {
            problems.push(format!(
                "`fc.weight` has shape {:?}, pt_inception-2015-12-05 has {FC_WEIGHT_SHAPE:?} \
                 (torchvision's ImageNet Inception-v3 has 1000 classes and is not the FID network)",
                fc.shape
            ));
        }
        let unexpected: Vec<String> = self
            .tensors
            .keys()
            .filter(|name| {
                !self.used.contains(*name) && !matches!(name.as_str(), "fc.weight" | "fc.bias")
            })
            .cloned()
            .collect();
        problems.extend(tensor_names_problem("unexpected", &unexpected));
        if problems.is_empty() {
            return Ok(());
        }
        Err(StageError::LoadWeights {
            path: path.to_owned(),
            reason: format!(
                "it is not pytorch-fid's FID Inception-v3 with its state-dict names \
                 (see docs/pipelines.md, score.quality): {}",
                problems.join("; ")
            ),
        })
    }
}

impl WeightSource for FileWeights {
    fn device(&self) -> &Device {
        &self.device
    }

    fn conv(&mut self, name: &str, weight: [usize; 4]) -> Option<FoldedConv> {
        // Take all five so that every problem of this layer is recorded, not the first.
        let tensors: Vec<Option<Vec<f32>>> = conv_tensors(name, weight)
            .iter()
            .map(|(tensor, shape)| self.take(tensor, shape).map(<[f32]>::to_vec))
            .collect();
        let [Some(w), Some(gamma), Some(beta), Some(mean), Some(var)] = &tensors[..] else {
            return None;
        };
        Some(fold(w, gamma, beta, mean, var))
    }
}

/// Folds eval-mode BatchNorm into the bias-free convolution before it, in f64.
fn fold(weight: &[f32], gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32]) -> FoldedConv {
    let per_out = weight.len() / gamma.len();
    let scale: Vec<f64> = gamma
        .iter()
        .zip(var)
        .map(|(&g, &v)| f64::from(g) / (f64::from(v) + BN_EPS).sqrt())
        .collect();
    let weight = weight
        .chunks_exact(per_out)
        .zip(&scale)
        .flat_map(|(row, &s)| row.iter().map(move |&w| (f64::from(w) * s) as f32))
        .collect();
    let bias = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((&b, &m), &s)| (f64::from(b) - f64::from(m) * s) as f32)
        .collect();
    FoldedConv { weight, bias }
}

/// The first few names of a list, and how many more there are.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_matches_batch_norm_after_the_convolution() {
        // One output channel, two weights: y = γ (w·x − μ) / √(σ² + ε) + β.
        let folded = fold(&[2.0, -1.0], &[1.5], &[0.25], &[0.5], &[3.0]);
        let s = 1.5 / (3.0f64 + 0.001).sqrt();
        let close = |a: f32, b: f64| (f64::from(a) - b).abs() < 1e-6;
        assert!(close(folded.weight[0], 2.0 * s), "{:?}", folded.weight);
        assert!(close(folded.weight[1], -s), "{:?}", folded.weight);
        assert!(close(folded.bias[0], 0.25 - 0.5 * s), "{:?}", folded.bias);
    }
}
