//! The prompt encoder: a word-embedding table plus learned positions, a pre-norm
//! transformer encoder and a final LayerNorm (the shape of CLIP's text tower, tiny), whose
//! per-token outputs are the U-Net's cross-attention context.

use burn::module::{Module, Param};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::config::TextSpec;
use crate::rng::{keyed_rng, normal};

#[derive(Module, Debug)]
pub struct TextEncoder {
    /// [vocabulary, width]
    pub tokens: Param<Tensor<2>>,
    /// [context_length, width]
    pub positions: Param<Tensor<2>>,
    pub transformer: TransformerEncoder,
    pub norm: LayerNorm,
}

impl TextEncoder {
    /// A new encoder; the embedding tables are drawn N(0, 0.02²) from a stream keyed by
    /// `seed` (the linear layers are initialised by the caller's seeded init).
    pub fn new(spec: &TextSpec, seed: u64, device: &Device) -> Self {
        let table = |purpose: &str, rows: usize| {
            let mut rng = keyed_rng(seed, purpose, &[]);
            let values: Vec<f32> = (0..rows * spec.width)
                .map(|_| 0.02 * normal(&mut rng))
                .collect();
            Param::from_data(TensorData::new(values, [rows, spec.width]), device)
        };
        Self {
            tokens: table("text-tokens", spec.vocabulary.len()),
            positions: table("text-positions", spec.context_length),
            transformer: TransformerEncoderConfig::new(
                spec.width,
                4 * spec.width,
                spec.heads,
                spec.layers,
            )
            .with_dropout(0.0)
            .with_norm_first(true)
            .init(device),
            norm: LayerNormConfig::new(spec.width).init(device),
        }
    }

    /// Context [b, context_length, width] for token rows (each `context_length` long).
    pub fn forward(&self, tokens: &[Vec<usize>]) -> Tensor<3> {
        let device = self.tokens.val().device();
        let (b, n) = (tokens.len(), tokens.first().map_or(0, Vec::len));
        let ids: Vec<i64> = tokens.iter().flatten().map(|&t| t as i64).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [b * n]), &device);
        let width = self.tokens.val().dims()[1];
        let x = self.tokens.val().select(0, ids).reshape([b, n, width])
            + self.positions.val().unsqueeze_dim::<3>(0);
        let x = self.transformer.forward(TransformerEncoderInput::new(x));
        self.norm.forward(x)
    }
}
