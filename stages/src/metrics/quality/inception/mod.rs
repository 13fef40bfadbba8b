//! The FID Inception-v3 (pytorch-fid's `fid_inception_v3`, weights
//! `pt_inception-2015-12-05`) on Burn, in eval mode: 2048-d pool3 features whose FID is
//! comparable with published FIDs when the standard weights are loaded.
//!
//! The weights are not bundled: [`FidInception::load`] reads a safetensors file whose
//! tensor names are pytorch-fid's state-dict names (`Conv2d_1a_3x3.conv.weight`,
//! `Mixed_5b.branch1x1.bn.running_var`, …; [`expected_tensors`] lists them), converted
//! from `pt_inception-2015-12-05-6726825d.pth` by `bench/reference/convert_fid_inception.py`.
//! The classifier head (`fc.*`) and `num_batches_tracked` may be present and are ignored.
//!
//! Parity with pytorch-fid is pinned in `stages/tests/metrics_inception.rs` on
//! formula-filled weights ([`test_weights`]; script `bench/reference/inception_reference.py`).

mod net;
mod preprocess;
#[doc(hidden)]
pub mod test_weights;
mod weights;

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};

use self::net::Net;
use self::weights::{FileWeights, Recorder};
use crate::StageError;
use crate::metrics::quality::GrayImage;

pub use preprocess::{INPUT_SIZE, network_input, resize_bilinear};

/// Features per image (pool3).
pub const FEATURE_DIM: usize = 2048;

/// Images per forward pass: activations of one 299×299 image peak at a few tens of MB.
const BATCH: usize = 8;

/// The loaded network, on one device.
pub struct FidInception {
    net: Net,
}

impl FidInception {
    /// Loads the weights in `path` (see the module docs for the names) onto `device`.
    /// Every tensor the network needs must be present with its exact shape; the error
    /// names each missing, mismatched or unexpected tensor and the file.
    pub fn load(path: &Path, device: &Device) -> Result<Self, StageError> {
        let mut source = FileWeights::read(path, device)?;
        let net = Net::new(&mut source);
        source.finish(path)?;
        tracing::debug!(path = %path.display(), "loaded the FID Inception-v3 weights");
        Ok(Self { net })
    }

    /// pool3 features of each image ([`FEATURE_DIM`] values), in order. Images of any
    /// size are resized to 299×299 as pytorch-fid does.
    pub fn features(&self, images: &[GrayImage]) -> Result<Vec<Vec<f32>>, StageError> {
        let mut out = Vec::with_capacity(images.len());
        for batch in images.chunks(BATCH) {
            let x = self.input(batch);
            let x = self
                .net
                .block3(self.net.block2(self.net.block1(self.net.block0(x))));
            let values = read(x, "pool3 features")?;
            out.extend(values.chunks_exact(FEATURE_DIM).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// The outputs of pytorch-fid's four blocks (`output_blocks=[0, 1, 2, 3]`) for one
    /// image, flattened: `[64, 73, 73]`, `[192, 35, 35]`, `[768, 17, 17]`, `[2048, 1, 1]`.
    /// For parity tests.
    #[doc(hidden)]
    pub fn block_outputs(&self, image: &GrayImage) -> Result<[Vec<f32>; 4], StageError> {
        let b0 = self.net.block0(self.input(std::slice::from_ref(image)));
        let b1 = self.net.block1(b0.clone());
        let b2 = self.net.block2(b1.clone());
        let b3 = self.net.block3(b2.clone());
        Ok([
            read(b0, "block 0")?,
            read(b1, "block 1")?,
            read(b2, "block 2")?,
            read(b3, "block 3")?,
        ])
    }

    fn input(&self, images: &[GrayImage]) -> Tensor<4> {
        let values: Vec<f32> = images.iter().flat_map(network_input).collect();
        Tensor::from_data(
            TensorData::new(values, [images.len(), 3, INPUT_SIZE, INPUT_SIZE]),
            &self.net.device(),
        )
    }
}

fn read(x: Tensor<4>, what: &str) -> Result<Vec<f32>, StageError> {
    x.try_into_vec_as::<f32>().map_err(|err| {
        StageError::Backend(format!("read the inception {what} from the device: {err}"))
    })
}

/// Every tensor name and shape the network loads, in the order it takes them: five per
/// `BasicConv2d` (`conv.weight`, `bn.weight`, `bn.bias`, `bn.running_mean`,
/// `bn.running_var`).
pub fn expected_tensors() -> Vec<(String, Vec<usize>)> {
    let mut recorder = Recorder::new();
    let _ = Net::new(&mut recorder);
    recorder.expected
}
