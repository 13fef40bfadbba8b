//! Seeded weight initialisation and parameter counting, by walking the module tree.

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Shape, Tensor, TensorData};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which reference initialisation to reproduce.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InitPolicy {
    /// Convs: Kaiming normal, fan-out, ReLU gain. Linear: PyTorch's default uniform.
    TorchvisionResNet,
    /// Convs: Kaiming normal, fan-out, zero bias. Linear: U(±1/√out), zero bias.
    TorchvisionEfficientNet,
    /// Convs and linears: truncated normal (σ = 0.02, cut at 2σ), zero bias.
    ConvNext,
    /// PyTorch's defaults for every conv and linear (weight and bias U(±1/√fan_in)), as
    /// the reference DDPM and GAN implementations use.
    TorchDefault,
}

/// A [`ModuleMapper`] that replaces conv and linear weights and biases with values from
/// one ChaCha8 stream, in module-tree order. Norm layers, layer scale and running
/// statistics keep their constant initialisers.
pub(crate) struct SeededInit {
    rng: ChaCha8Rng,
    policy: InitPolicy,
    /// (field name, type of the struct holding it) for every level entered.
    path: Vec<(String, String)>,
    /// Input width of the last linear weight seen; PyTorch bounds a linear's bias by it,
    /// and the weight is visited just before its bias.
    linear_fan_in: usize,
    /// The same for the last conv weight (its input channels per group × kernel area).
    conv_fan_in: usize,
}

impl SeededInit {
    pub(crate) fn new(seed: u64, policy: InitPolicy) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            policy,
            path: Vec::new(),
            linear_fan_in: 1,
            conv_fan_in: 1,
        }
    }

    /// Uniform in (0, 1], 24 bits, straight from the word stream (rand's distributions
    /// may change between releases; these values end up in cached artifacts).
    fn unit(&mut self) -> f64 {
        f64::from((self.rng.next_u32() >> 8) + 1) / 16_777_216.0
    }

    fn uniform(&mut self, bound: f64) -> f32 {
        ((2.0 * self.unit() - 1.0) * bound) as f32
    }

    /// Box–Muller; one value per call keeps the stream position simple to reason about.
    fn normal(&mut self, std: f64) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * std
    }

    fn trunc_normal(&mut self, std: f64) -> f32 {
        loop {
            let v = self.normal(std);
            if v.abs() <= 2.0 * std {
                return v as f32;
            }
        }
    }

    fn values(&mut self, container: &str, name: &str, dims: &[usize]) -> Option<Vec<f32>> {
        let n: usize = dims.iter().product();
        let draw = match (container, name, self.policy) {
            ("Struct:Conv2d", "weight", InitPolicy::TorchDefault) => {
                Draw::Uniform(1.0 / ((dims[1] * dims[2] * dims[3]) as f64).sqrt())
            }
            ("Struct:Conv2d", "bias", InitPolicy::TorchDefault) => {
                Draw::Uniform(1.0 / (self.conv_fan_in as f64).sqrt())
            }
            ("Struct:Linear", "weight", InitPolicy::TorchDefault) => {
                Draw::Uniform(1.0 / (dims[0] as f64).sqrt())
            }
            ("Struct:Linear", "bias", InitPolicy::TorchDefault) => {
                Draw::Uniform(1.0 / (self.linear_fan_in as f64).sqrt())
            }
            ("Struct:Conv2d" | "Struct:Linear", "weight", InitPolicy::ConvNext) => {
                Draw::TruncNormal(0.02)
            }
            ("Struct:Conv2d", "weight", _) => {
                // Weight [out, in / groups, kh, kw]; PyTorch's fan-out ignores groups.
                let fan_out = (dims[0] * dims[2] * dims[3]) as f64;
                Draw::Normal((2.0 / fan_out).sqrt())
            }
            ("Struct:Linear", _, InitPolicy::TorchvisionResNet) => {
                Draw::Uniform(1.0 / (self.linear_fan_in as f64).sqrt())
            }
            // Burn stores linear weights [in, out].
            ("Struct:Linear", "weight", InitPolicy::TorchvisionEfficientNet) => {
                Draw::Uniform(1.0 / (dims[1] as f64).sqrt())
            }
            ("Struct:Conv2d" | "Struct:Linear", "bias", _) => return Some(vec![0.0; n]),
            _ => return None,
        };
        Some(
            (0..n)
                .map(|_| match draw {
                    Draw::Normal(std) => self.normal(std) as f32,
                    Draw::TruncNormal(std) => self.trunc_normal(std),
                    Draw::Uniform(bound) => self.uniform(bound),
                })
                .collect(),
        )
    }
}

#[derive(Clone, Copy)]
enum Draw {
    Normal(f64),
    TruncNormal(f64),
    Uniform(f64),
}

impl ModuleMapper for SeededInit {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push((name.to_owned(), container_type.to_owned()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((name, container)) = self.path.last().cloned() else {
            return param;
        };
        let shape = param.lazy_shape();
        let dims = shape.to_vec();
        if container == "Struct:Linear" && name == "weight" {
            self.linear_fan_in = dims[0];
        }
        if container == "Struct:Conv2d" && name == "weight" {
            self.conv_fan_in = dims[1] * dims[2] * dims[3];
        }
        match self.values(&container, &name, &dims) {
            Some(values) => host_param(param, values, shape),
            None => param,
        }
    }
}

/// A lazy parameter with the same id whose value is uploaded from `values` when first
/// used, on whatever device the parameter lives on by then.
fn host_param<const D: usize>(
    param: Param<Tensor<D>>,
    values: Vec<f32>,
    shape: Shape,
) -> Param<Tensor<D>> {
    let device: Device = param.lazy_device();
    let data = TensorData::new(values, shape.clone());
    Param::uninitialized(
        param.id,
        move |device, require_grad| {
            let tensor = Tensor::<D>::from_data(data, device);
            if require_grad {
                tensor.require_grad()
            } else {
                tensor
            }
        },
        device,
        true,
        shape,
    )
}

/// Counts trainable float parameters, skipping BatchNorm's running statistics.
#[derive(Default)]
pub(super) struct TrainableCounter {
    pub(super) count: usize,
    name: Vec<String>,
}

impl ModuleVisitor for TrainableCounter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.name.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.name.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let is_buffer = self
            .name
            .last()
            .is_some_and(|name| name.starts_with("running_"));
        if !is_buffer {
            self.count += param.lazy_shape().num_elements();
        }
    }
}
