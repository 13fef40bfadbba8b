//! The one place that chooses where Burn computes.
//!
//! `Device::default()` would prefer wgpu, which on a GPU-less machine is Mesa's software
//! Vulkan (lavapipe) and 50–75× slower than Burn's pure-Rust CPU backend, flex. So `auto`
//! tries CUDA (when this build has it and a driver answers), then wgpu only on a real GPU
//! adapter, then the CPU, and every non-CPU choice is explicit.
//!
//! Burn's CUDA backend is the opt-in cargo feature `cuda` (its build downloads an LLVM
//! bundle); the NVIDIA driver probe in `cuda.rs` is always built, for GPU detection and so
//! that `--backend cuda` fails with a reason instead of a panic inside cudarc.

mod cuda;
pub use cuda::{CudaDeviceInfo, cuda_devices};

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use burn::tensor::wgpu::wgpu;
use burn::tensor::{Device, DeviceKind};
use serde::{Deserialize, Serialize};

use crate::StageError;

/// Which Burn backend a stage asks for.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// CUDA when an NVIDIA driver answers, else wgpu on a real (non-software) GPU
    /// adapter, else the CPU.
    #[default]
    Auto,
    /// Burn's CUDA backend (CubeCL; cargo feature `cuda`); the driver is loaded at run time.
    Cuda,
    /// wgpu on its best adapter, even a software one (lavapipe): how CI exercises wgpu.
    Wgpu,
    /// Burn's flex backend: pure Rust, multi-threaded.
    Cpu,
}

impl BackendChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cuda => "cuda",
            Self::Wgpu => "wgpu",
            Self::Cpu => "cpu",
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendChoice {
    type Err = StageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "cuda" => Ok(Self::Cuda),
            "wgpu" => Ok(Self::Wgpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(StageError::InvalidConfig(format!(
                "unknown backend {other:?}; expected auto, cuda, wgpu or cpu"
            ))),
        }
    }
}

/// A Burn device and a human-readable name for reports, e.g. "cpu-flex" or
/// "wgpu:NVIDIA GeForce RTX 4090". Results are reproducible only on the same backend, so
/// the name belongs in run records.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    pub device: Device,
    pub name: String,
}

impl SelectedDevice {
    /// The CPU backend (flex); never fails.
    pub fn cpu() -> Self {
        Self {
            device: Device::flex(),
            name: "cpu-flex".to_owned(),
        }
    }

    /// True for the CPU backend: callers use it to decide e.g. thread counts.
    pub fn is_cpu(&self) -> bool {
        self.name == "cpu-flex"
    }
}

/// One wgpu adapter as seen by the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    /// A software rasteriser (lavapipe, llvmpipe, WARP) rather than a GPU.
    pub is_software: bool,
    /// The graphics API, e.g. "Vulkan" or "Gl".
    pub api: String,
}

/// The wgpu adapters of this machine, best first (GPUs before software ones).
///
/// Asks wgpu directly instead of opening a Burn device, so no runtime is initialised just
/// to learn that the only adapter is lavapipe. Cached: the Vulkan loader is not safe to
/// create instances on from several threads at once, so we do it once per process.
pub fn wgpu_adapters() -> &'static [AdapterSummary] {
    static ADAPTERS: OnceLock<Vec<AdapterSummary>> = OnceLock::new();
    ADAPTERS.get_or_init(probe_adapters)
}

fn probe_adapters() -> Vec<AdapterSummary> {
    // Without a display, OpenGL's EGL prints errors on the terminal ("XDG_RUNTIME_DIR is
    // invalid or not set", "eglInitialize ... failed to load driver") as soon as the
    // instance exists; compute needs no display, so GL is only set up with one.
    let has_display = ["WAYLAND_DISPLAY", "DISPLAY"]
        .iter()
        .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()));
    let backends = if has_display {
        wgpu::Backends::all()
    } else {
        tracing::debug!("no display: probing wgpu adapters without OpenGL");
        wgpu::Backends::all() - wgpu::Backends::GL
    };
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
    descriptor.backends = backends;
    let instance = wgpu::Instance::new(descriptor);
    let adapters = block_on(instance.enumerate_adapters(backends));
    let mut out: Vec<AdapterSummary> = adapters
        .iter()
        .map(|adapter| {
            let info = adapter.get_info();
            AdapterSummary {
                name: info.name,
                is_software: info.device_type == wgpu::DeviceType::Cpu,
                api: format!("{:?}", info.backend),
            }
        })
        .collect();
    // Stable: keeps wgpu's order (Vulkan before GL) within GPUs and within software.
    out.sort_by_key(|adapter| adapter.is_software);
    out
}

/// Picks the device for `choice` on Burn's default device index. `Auto` never fails:
/// without a GPU it is the CPU.
pub fn select_device(choice: BackendChoice) -> Result<SelectedDevice, StageError> {
    select_device_on(choice, None)
}

/// Picks the device for `choice`, on GPU `index` when the scheduler pinned the node to one
/// (CUDA's ordinal; for wgpu the index among discrete GPUs). The CPU ignores the index.
pub fn select_device_on(
    choice: BackendChoice,
    index: Option<usize>,
) -> Result<SelectedDevice, StageError> {
    match choice {
        BackendChoice::Cpu => Ok(SelectedDevice::cpu()),
        BackendChoice::Cuda => {
            let devices = cuda_backend().map_err(|reason| StageError::NoCudaDevice { reason })?;
            cuda_device(devices, index)
        }
        BackendChoice::Wgpu => {
            let best = wgpu_adapters().first().ok_or(StageError::NoWgpuAdapter)?;
            Ok(wgpu_device(best, index))
        }
        BackendChoice::Auto => {
            match cuda_backend() {
                Ok(devices) => return cuda_device(devices, index),
                Err(reason) => tracing::debug!("auto backend: skipping CUDA: {reason}"),
            }
            match wgpu_adapters().iter().find(|a| !a.is_software) {
                Some(gpu) => Ok(wgpu_device(gpu, index)),
                None => {
                    let seen: Vec<&str> = wgpu_adapters().iter().map(|a| a.name.as_str()).collect();
                    tracing::info!(
                        "auto backend: no CUDA device and no hardware wgpu adapter \
                         (software adapters: {seen:?}); using the CPU backend (flex)"
                    );
                    Ok(SelectedDevice::cpu())
                }
            }
        }
    }
}

/// The backend `auto` resolves to on this machine (without opening any device), so the
/// scheduler knows whether ML nodes will want a GPU.
pub fn resolve_auto() -> BackendChoice {
    if cuda_backend().is_ok() {
        BackendChoice::Cuda
    } else if wgpu_adapters().iter().any(|a| !a.is_software) {
        BackendChoice::Wgpu
    } else {
        BackendChoice::Cpu
    }
}

/// The CUDA devices Burn can compute on, or why none (one line): this build lacks the
/// backend, or the driver is missing or sees no device.
pub fn cuda_backend() -> Result<&'static [CudaDeviceInfo], String> {
    if !cfg!(feature = "cuda") {
        return Err(
            "this build has no CUDA backend: build with `cargo build --release \
                    --features cuda` where Burn's LLVM bundle can be downloaded, or use \
                    --backend wgpu (Vulkan) on NVIDIA GPUs"
                .to_owned(),
        );
    }
    cuda_devices().map_err(str::to_owned)
}

fn cuda_device(
    devices: &[CudaDeviceInfo],
    index: Option<usize>,
) -> Result<SelectedDevice, StageError> {
    let wanted = index.unwrap_or(0);
    let info =
        devices
            .iter()
            .find(|d| d.index == wanted)
            .ok_or_else(|| StageError::NoCudaDevice {
                reason: format!(
                    "GPU {wanted} does not exist (the driver sees {} device(s))",
                    devices.len()
                ),
            })?;
    Ok(SelectedDevice {
        device: cuda_burn_device(info.index)?,
        name: format!("cuda:{}:{}", info.index, info.name),
    })
}

#[cfg(feature = "cuda")]
fn cuda_burn_device(index: usize) -> Result<Device, StageError> {
    Ok(Device::cuda(index))
}

/// Unreachable: `cuda_backend` refuses first in a build without the feature.
#[cfg(not(feature = "cuda"))]
fn cuda_burn_device(_index: usize) -> Result<Device, StageError> {
    Err(StageError::NoCudaDevice {
        reason: "this build has no CUDA backend".to_owned(),
    })
}

fn wgpu_device(adapter: &AdapterSummary, index: Option<usize>) -> SelectedDevice {
    // DefaultDevice prefers high-power GPUs, as our ordering does; with only a software
    // adapter it lands on that one. A pinned node names its discrete GPU.
    let hardware = wgpu_adapters().iter().filter(|a| !a.is_software).count();
    if let Some(index) = index.filter(|&i| i >= hardware) {
        tracing::warn!(
            "GPU {index} has no wgpu adapter ({hardware} hardware adapter(s)); using the default one"
        );
    }
    match index {
        Some(index) if !adapter.is_software && index < hardware => SelectedDevice {
            device: Device::wgpu(DeviceKind::DiscreteGpu(index)),
            // Hardware adapters come first in `wgpu_adapters`, like wgpu's own count.
            name: format!("wgpu:{index}:{}", wgpu_adapters()[index].name),
        },
        _ => SelectedDevice {
            device: Device::wgpu(DeviceKind::DefaultDevice),
            name: format!("wgpu:{}", adapter.name),
        },
    }
}

/// Drives a future to completion on this thread. wgpu's adapter enumeration is async only
/// for the browser's sake; on native targets it is ready at once, so no executor is needed.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_choices() {
        for choice in [
            BackendChoice::Auto,
            BackendChoice::Cuda,
            BackendChoice::Wgpu,
            BackendChoice::Cpu,
        ] {
            assert_eq!(choice.as_str().parse::<BackendChoice>().unwrap(), choice);
            let json = serde_json::to_string(&choice).unwrap();
            assert_eq!(json, format!("\"{choice}\""));
        }
        let err = "rocm".parse::<BackendChoice>().unwrap_err();
        assert!(err.to_string().contains("\"rocm\""), "{err}");
    }

    #[test]
    fn cpu_is_flex() {
        let selected = select_device(BackendChoice::Cpu).unwrap();
        assert_eq!(selected.name, "cpu-flex");
        assert!(selected.is_cpu());
    }

    /// Without the backend or a driver, `cuda` is an error naming the reason, and `auto` still lands on a
    /// device (never a panic from cudarc).
    #[test]
    fn cuda_without_driver_is_an_error_and_auto_falls_back() {
        if cuda_backend().is_ok() {
            return; // a CUDA build on a GPU machine: nothing to check here.
        }
        let err = select_device(BackendChoice::Cuda).unwrap_err();
        assert!(matches!(err, StageError::NoCudaDevice { .. }), "{err}");
        let expected = if cfg!(feature = "cuda") {
            "NVIDIA"
        } else {
            "this build has no CUDA backend"
        };
        assert!(err.to_string().contains(expected), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
        assert_ne!(resolve_auto(), BackendChoice::Cuda);
        let auto = select_device(BackendChoice::Auto).unwrap();
        assert!(!auto.name.starts_with("cuda"), "{}", auto.name);
    }
}
