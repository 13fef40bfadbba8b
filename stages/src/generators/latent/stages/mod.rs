//! The stage functions `train.diffusion_base`, `train.finetune` and `train.lora`, one file
//! each; `adaptation.rs` holds what they (and DreamBooth) share.

mod adaptation;
mod base;
mod finetune;
mod lora;

pub use adaptation::AdaptIo;
pub(super) use adaptation::{finish, read_base, to_examples};
pub use base::{BaseInputs, train_diffusion_base};
pub use finetune::train_finetune;
pub use lora::train_lora;
