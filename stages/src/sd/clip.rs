//! CLIP's text tower (`transformers.CLIPTextModel`), built from `text_encoder/config.json`:
//! token + position embeddings, pre-LayerNorm transformer layers with a causal mask and
//! quick-GELU (or GELU) MLPs, a final LayerNorm. Parameter paths are transformers'
//! (`text_model.encoder.layers.0.self_attn.q_proj.weight`, …), so checkpoints load by name.

use std::path::Path;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Deserialize;

use super::files::{invalid, read_json_value};
use super::weights::{Naming, load_torch_tensors, read_torch_file};
use crate::StageError;
use crate::attention::{attend, split_heads};

/// The module level published checkpoints name their tensors under.
const PREFIX: &str = "text_model.";

/// The fields of `text_encoder/config.json` the model is built from.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct ClipTextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
}

fn quick_gelu() -> String {
    "quick_gelu".to_owned()
}

fn layer_norm_eps() -> f64 {
    1e-5
}

impl ClipTextConfig {
    /// Reads and checks `path` (a `text_encoder/config.json`).
    pub fn read(path: &Path) -> Result<Self, StageError> {
        let config: Self = serde_json::from_value(read_json_value(path)?)
            .map_err(|err| invalid(path, err.to_string()))?;
        let mut problems = Vec::new();
        if !matches!(config.hidden_act.as_str(), "quick_gelu" | "gelu") {
            problems.push(format!(
                "hidden_act {:?} (quick_gelu or gelu)",
                config.hidden_act
            ));
        }
        let sizes = [
            config.vocab_size,
            config.hidden_size,
            config.intermediate_size,
            config.num_hidden_layers,
            config.num_attention_heads,
            config.max_position_embeddings,
        ];
        if sizes.contains(&0) || sizes.iter().any(|&n| n > 1 << 20) {
            problems.push(format!("sizes {sizes:?} out of range"));
        } else if !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        {
            problems.push(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ));
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(invalid(path, problems.join("; ")))
        }
    }
}

#[derive(Module, Debug)]
pub struct Embeddings {
    token_embedding: Embedding,
    position_embedding: Embedding,
}

#[derive(Module, Debug)]
pub struct SelfAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
}

impl SelfAttention {
    /// Causal self-attention of `x` [b, n, c]; `mask` [n, n] is 0 or −∞.
    fn forward(&self, x: Tensor<3>, mask: Tensor<4>) -> Tensor<3> {
        let h = self.heads;
        let d = x.dims()[2] / h;
        // transformers scales the queries before the product.
        let q = split_heads(
            self.q_proj
                .forward(x.clone())
                .mul_scalar((d as f64).powf(-0.5)),
            h,
        );
        let k = split_heads(self.k_proj.forward(x.clone()), h);
        let v = split_heads(self.v_proj.forward(x), h);
        let scores = q.matmul(k.swap_dims(2, 3)) + mask;
        self.out_proj.forward(attend(scores, v))
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
    quick_gelu: bool,
}

impl Mlp {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self.fc1.forward(x);
        let h = if self.quick_gelu {
            h.clone() * sigmoid(h.mul_scalar(1.702))
        } else {
            gelu(h)
        };
        self.fc2.forward(h)
    }
}

#[derive(Module, Debug)]
pub struct EncoderLayer {
    self_attn: SelfAttention,
    layer_norm1: LayerNorm,
    mlp: Mlp,
    layer_norm2: LayerNorm,
}

#[derive(Module, Debug)]
pub struct Encoder {
    layers: Vec<EncoderLayer>,
}

#[derive(Module, Debug)]
pub struct TextTransformer {
    embeddings: Embeddings,
    encoder: Encoder,
    final_layer_norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct ClipTextModel {
    text_model: TextTransformer,
}

impl ClipTextModel {
    /// The module tree for `config`, parameters not yet allocated.
    pub fn new(config: &ClipTextConfig, device: &Device) -> Self {
        let c = config.hidden_size;
        let norm = || {
            LayerNormConfig::new(c)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        let layers = (0..config.num_hidden_layers)
            .map(|_| EncoderLayer {
                self_attn: SelfAttention {
                    q_proj: linear(c, c),
                    k_proj: linear(c, c),
                    v_proj: linear(c, c),
                    out_proj: linear(c, c),
                    heads: config.num_attention_heads,
                },
                layer_norm1: norm(),
                mlp: Mlp {
                    fc1: linear(c, config.intermediate_size),
                    fc2: linear(config.intermediate_size, c),
                    quick_gelu: config.hidden_act == "quick_gelu",
                },
                layer_norm2: norm(),
            })
            .collect();
        Self {
            text_model: TextTransformer {
                embeddings: Embeddings {
                    token_embedding: EmbeddingConfig::new(config.vocab_size, c).init(device),
                    position_embedding: EmbeddingConfig::new(config.max_position_embeddings, c)
                        .init(device),
                },
                encoder: Encoder { layers },
                final_layer_norm: norm(),
            },
        }
    }

    /// Builds the model for `config` and loads `path` (a `model.safetensors` with
    /// transformers' names; f16 or f32).
    pub fn load(config: &ClipTextConfig, path: &Path, device: &Device) -> Result<Self, StageError> {
        // Older checkpoints (SD v1-4's among them) store the position-id buffer.
        let naming = Naming {
            ignored: &["text_model.embeddings.position_ids"],
            ..Naming::default()
        };
        // transformers 5 writes the names without the `text_model.` level that every
        // published checkpoint has: accept both.
        let mut tensors = read_torch_file(path)?;
        if !tensors.keys().any(|name| name.starts_with(PREFIX)) {
            tensors = tensors
                .into_iter()
                .map(|(name, tensor)| (format!("{PREFIX}{name}"), tensor))
                .collect();
        }
        load_torch_tensors(Self::new(config, device), tensors, path, &naming)
    }

    /// `last_hidden_state` [b, n, hidden] for token rows of equal length n (at most
    /// `max_position_embeddings`): what Stable Diffusion conditions on.
    pub fn forward(&self, ids: &[Vec<u32>]) -> Tensor<3> {
        let tm = &self.text_model;
        let device = tm.embeddings.token_embedding.weight.val().device();
        let (b, n) = (ids.len(), ids.first().map_or(0, Vec::len));
        let flat: Vec<i64> = ids.iter().flatten().map(|&t| i64::from(t)).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(flat, [b, n]), &device);
        let positions = Tensor::<1, Int>::arange(0..n as i64, &device).reshape([1, n]);
        let mut x = tm.embeddings.token_embedding.forward(tokens)
            + tm.embeddings.position_embedding.forward(positions);
        // Causal mask: position i attends to positions ≤ i.
        let mask: Vec<f32> = (0..n * n)
            .map(|k| {
                if k % n > k / n {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask =
            Tensor::<2>::from_data(TensorData::new(mask, [n, n]), &device).reshape([1, 1, n, n]);
        for layer in &tm.encoder.layers {
            let h = layer
                .self_attn
                .forward(layer.layer_norm1.forward(x.clone()), mask.clone());
            x = x + h;
            let h = layer.mlp.forward(layer.layer_norm2.forward(x.clone()));
            x = x + h;
        }
        tm.final_layer_norm.forward(x)
    }
}
