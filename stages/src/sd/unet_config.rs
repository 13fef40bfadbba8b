//! `unet/config.json` for [`super::UNet2DCondition`]: the fields SD v1.x uses, checked,
//! and every option of SD v2.x, SDXL and other U-Nets this port does not implement
//! refused with the model family it points to.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::files::{invalid, read_json_value};
use crate::StageError;

/// The block layout diffusers' `unet/config.json` and `vae/config.json` share.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct BlockLayout {
    pub in_channels: usize,
    pub out_channels: usize,
    pub down_block_types: Vec<String>,
    pub up_block_types: Vec<String>,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
}

/// The fields of `unet/config.json` the model is built from.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct UNetConfig {
    #[serde(flatten)]
    pub blocks: BlockLayout,
    /// Heads per attention in SD v1.x (diffusers' historical misnomer).
    pub attention_head_dim: usize,
    pub cross_attention_dim: usize,
    pub norm_num_groups: usize,
    #[serde(default = "norm_eps")]
    pub norm_eps: f64,
    #[serde(default = "yes")]
    pub flip_sin_to_cos: bool,
    #[serde(default)]
    pub freq_shift: f64,
    #[serde(default = "sample_size")]
    pub sample_size: usize,
}

fn norm_eps() -> f64 {
    1e-5
}

fn yes() -> bool {
    true
}

fn sample_size() -> usize {
    64
}

impl UNetConfig {
    /// Reads and checks `path` (a `unet/config.json`), refusing SD v2.x and SDXL
    /// configs and any option this port does not implement, all problems in one error.
    pub fn read(path: &Path) -> Result<Self, StageError> {
        let json = read_json_value(path)?;
        let mut problems = unsupported_options(&json);
        match serde_json::from_value::<Self>(json) {
            Ok(config) => {
                problems.extend(config.problems());
                if problems.is_empty() {
                    return Ok(config);
                }
            }
            Err(err) if problems.is_empty() => problems.push(err.to_string()),
            Err(_) => {}
        }
        Err(invalid(path, problems.join("; ")))
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let n = self.blocks.block_out_channels.len();
        if n == 0
            || n > 8
            || self.blocks.down_block_types.len() != n
            || self.blocks.up_block_types.len() != n
        {
            problems.push(format!(
                "{n} block_out_channels, {} down and {} up blocks",
                self.blocks.down_block_types.len(),
                self.blocks.up_block_types.len()
            ));
        }
        for t in &self.blocks.down_block_types {
            if !matches!(t.as_str(), "CrossAttnDownBlock2D" | "DownBlock2D") {
                problems.push(format!("down block {t:?}"));
            }
        }
        for t in &self.blocks.up_block_types {
            if !matches!(t.as_str(), "CrossAttnUpBlock2D" | "UpBlock2D") {
                problems.push(format!("up block {t:?}"));
            }
        }
        let g = self.norm_num_groups;
        let heads = self.attention_head_dim;
        if g == 0
            || heads == 0
            || self
                .blocks
                .block_out_channels
                .iter()
                .any(|&c| c == 0 || c > 8192 || !c.is_multiple_of(g) || !c.is_multiple_of(heads))
        {
            problems.push(format!(
                "block_out_channels {:?} are not positive multiples of norm_num_groups {g} and the {heads} heads",
                self.blocks.block_out_channels
            ));
        }
        let small = |v: usize| (1..=64).contains(&v);
        if !small(self.blocks.in_channels)
            || !small(self.blocks.out_channels)
            || !(1..=8).contains(&self.blocks.layers_per_block)
            || !(1..=8192).contains(&self.cross_attention_dim)
        {
            problems.push("channel, layer or context sizes out of range".into());
        }
        problems
    }

    /// Width of the time embedding (4 × the first block's channels).
    pub(crate) fn time_dim(&self) -> usize {
        4 * self.blocks.block_out_channels[0]
    }
}

/// Options of SD v2.x, SDXL and other U-Nets this port does not implement, named with
/// the model family they point to.
fn unsupported_options(json: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let is = |key: &str, ok: &dyn Fn(&Value) -> bool| json.get(key).is_some_and(|v| !ok(v));
    let null: fn(&Value) -> bool = |v| v.is_null();
    let falsy: fn(&Value) -> bool = |v| v.is_null() || v == &Value::Bool(false);
    if json.get("attention_head_dim").is_some_and(Value::is_array)
        || is("use_linear_projection", &falsy)
        || json.get("cross_attention_dim") == Some(&Value::from(1024))
    {
        problems.push(
            "it is an SD v2.x config (per-block heads, linear projections or 1024-wide text \
             context): only SD v1.x is supported"
                .to_owned(),
        );
    }
    if is("addition_embed_type", &null)
        || json
            .get("transformer_layers_per_block")
            .is_some_and(|v| v != &Value::from(1))
    {
        problems.push(
            "it is an SDXL config (added conditioning or several transformer layers per \
             block): only SD v1.x is supported"
                .to_owned(),
        );
    }
    // Options SD v1.x leaves null, then switches it leaves off.
    let off = [
        ("class_embed_type", null),
        ("encoder_hid_dim", null),
        ("num_attention_heads", null),
        ("time_cond_proj_dim", null),
        ("only_cross_attention", falsy),
        ("dual_cross_attention", falsy),
        ("upcast_attention", falsy),
        ("center_input_sample", falsy),
    ];
    for (key, ok) in off {
        if is(key, &ok) {
            problems.push(format!("{key} {} is not supported", json[key]));
        }
    }
    let expect = |key: &str, value: &str| {
        json.get(key)
            .filter(|v| !v.is_null() && v.as_str() != Some(value))
            .map(|v| format!("{key} {v} (only {value:?})"))
    };
    problems.extend(
        [
            expect("act_fn", "silu"),
            expect("time_embedding_type", "positional"),
            expect("resnet_time_scale_shift", "default"),
            expect("mid_block_type", "UNetMidBlock2DCrossAttn"),
        ]
        .into_iter()
        .flatten(),
    );
    if json
        .get("downsample_padding")
        .is_some_and(|v| v != &Value::from(1))
    {
        problems.push(format!(
            "downsample_padding {} (only 1)",
            json["downsample_padding"]
        ));
    }
    problems
}
