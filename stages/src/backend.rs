//! The one place that chooses where Burn computes.
//!
//! `Device::default()` would prefer wgpu, which on a GPU-less machine is Mesa's software
//! Vulkan (lavapipe) and 50–75× slower than Burn's pure-Rust CPU backend, flex. So `auto`
//! takes wgpu only when it sees a real GPU adapter, and the wgpu choice is always explicit.

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
    /// wgpu when a real (non-software) GPU adapter exists, else the CPU.
    #[default]
    Auto,
    /// wgpu on its best adapter, even a software one (lavapipe): how CI exercises wgpu.
    Wgpu,
    /// Burn's flex backend: pure Rust, multi-threaded.
    Cpu,
}

impl BackendChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
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
            "wgpu" => Ok(Self::Wgpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(StageError::InvalidConfig(format!(
                "unknown backend {other:?}; expected auto, wgpu or cpu"
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

/// Picks the device for `choice`. `Auto` never fails: without a real GPU it is the CPU.
pub fn select_device(choice: BackendChoice) -> Result<SelectedDevice, StageError> {
    match choice {
        BackendChoice::Cpu => Ok(SelectedDevice::cpu()),
        BackendChoice::Wgpu => {
            let best = wgpu_adapters().first().ok_or(StageError::NoWgpuAdapter)?;
            Ok(wgpu_device(best))
        }
        BackendChoice::Auto => match wgpu_adapters().iter().find(|a| !a.is_software) {
            Some(gpu) => Ok(wgpu_device(gpu)),
            None => {
                tracing::info!("no GPU adapter found; using the CPU backend (flex)");
                Ok(SelectedDevice::cpu())
            }
        },
    }
}

fn wgpu_device(adapter: &AdapterSummary) -> SelectedDevice {
    // DefaultDevice prefers high-power GPUs, as our ordering does; with only a software
    // adapter it lands on that one.
    SelectedDevice {
        device: Device::wgpu(DeviceKind::DefaultDevice),
        name: format!("wgpu:{}", adapter.name),
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
        for choice in [BackendChoice::Auto, BackendChoice::Wgpu, BackendChoice::Cpu] {
            assert_eq!(choice.as_str().parse::<BackendChoice>().unwrap(), choice);
            let json = serde_json::to_string(&choice).unwrap();
            assert_eq!(json, format!("\"{choice}\""));
        }
        let err = "cuda".parse::<BackendChoice>().unwrap_err();
        assert!(err.to_string().contains("\"cuda\""), "{err}");
    }

    #[test]
    fn cpu_is_flex() {
        let selected = select_device(BackendChoice::Cpu).unwrap();
        assert_eq!(selected.name, "cpu-flex");
        assert!(selected.is_cpu());
    }
}
