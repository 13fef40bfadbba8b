//! Exponential moving average of a module's weights, kept on the device as a plain
//! (non-autodiff) copy of the module: ema ← decay·ema + (1 − decay)·model.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Blends `model`'s current float parameters into `ema`. Both must be the same module
/// tree (the visit order pairs them up); `ema` is typically `model.valid()` at step 0.
pub fn ema_update<M: Module>(ema: M, model: &M, decay: f64) -> M {
    let mut collect = Collect {
        tensors: Vec::new(),
    };
    model.visit(&mut collect);
    ema.map(&mut Blend {
        tensors: collect.tensors.into_iter(),
        decay,
    })
}

struct Collect {
    tensors: Vec<Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().inner();
        let n = value.shape().num_elements();
        self.tensors.push(value.reshape([n]));
    }
}

struct Blend {
    tensors: std::vec::IntoIter<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(current) = self.tensors.next() else {
            return param;
        };
        let decay = self.decay;
        param.map(|ema| {
            let shape = ema.shape();
            ema.mul_scalar(decay) + current.reshape(shape).mul_scalar(1.0 - decay)
        })
    }
}
