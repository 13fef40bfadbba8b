//! Shared by the benches that run on several backends.

use augflow_stages::backend::{BackendChoice, SelectedDevice, select_device, wgpu_adapters};

/// The device of `backend` (`cpu`, `cuda`, `wgpu`, …), and whether it runs on a software
/// (CPU-emulated) wgpu adapter, where the benches do fewer repeats or skip slow cases;
/// `None`, with a note on stderr, when this machine does not have it.
pub fn select_backend(backend: &str) -> Option<(SelectedDevice, bool)> {
    let choice: BackendChoice = backend
        .parse()
        .unwrap_or_else(|err| panic!("backend {backend:?}: {err}"));
    match select_device(choice) {
        Ok(device) => {
            let software = !device.is_cpu() && wgpu_adapters().iter().all(|a| a.is_software);
            Some((device, software))
        }
        Err(err) => {
            eprintln!("skipping {backend}: {err}");
            None
        }
    }
}
