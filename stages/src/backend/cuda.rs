//! Finds NVIDIA GPUs without letting CubeCL find out the hard way.
//!
//! cubecl-cuda loads the driver through cudarc, which panics when `libcuda.so` is missing
//! and again when `cuInit` fails (a driver without a device, e.g. a container started
//! without `--gpus`). So before Burn ever touches CUDA we open the driver ourselves and ask
//! it for its devices; only a machine that answers gets a CUDA device.

use std::ffi::{c_char, c_int, c_uint};
use std::sync::OnceLock;

/// The driver's library names, tried in order (the versioned name is what the driver
/// package installs; the bare one exists only with the toolkit's development files).
const DRIVER_LIBRARIES: [&str; 2] = ["libcuda.so.1", "libcuda.so"];

/// One CUDA device as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaDeviceInfo {
    /// The driver's ordinal, what `Device::cuda(index)` takes (after `CUDA_VISIBLE_DEVICES`).
    pub index: usize,
    pub name: String,
}

/// The CUDA devices of this machine, or why there are none (one line). Cached: the driver
/// is initialised once per process.
pub fn cuda_devices() -> Result<&'static [CudaDeviceInfo], &'static str> {
    static DEVICES: OnceLock<Result<Vec<CudaDeviceInfo>, String>> = OnceLock::new();
    match DEVICES.get_or_init(probe) {
        Ok(devices) => Ok(devices),
        Err(reason) => Err(reason),
    }
}

type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;

fn probe() -> Result<Vec<CudaDeviceInfo>, String> {
    let mut last_error = String::new();
    let library = DRIVER_LIBRARIES.iter().find_map(|name| {
        // SAFETY: loading the NVIDIA driver runs its initialisers, which are meant to be
        // run by any process that links it; nothing else of ours is involved.
        match unsafe { libloading::Library::new(name) } {
            Ok(library) => Some(library),
            Err(err) => {
                last_error = err.to_string();
                None
            }
        }
    });
    let Some(library) = library else {
        return Err(format!(
            "no NVIDIA driver: {} not found ({last_error})",
            DRIVER_LIBRARIES[0]
        ));
    };
    // SAFETY: the symbol types are those of the CUDA driver API (cuda.h), which has kept
    // these three signatures since CUDA 2; `library` outlives every call below.
    unsafe {
        let init: libloading::Symbol<'_, CuInit> = library
            .get(b"cuInit\0")
            .map_err(|err| format!("the NVIDIA driver has no cuInit: {err}"))?;
        let count: libloading::Symbol<'_, CuDeviceGetCount> = library
            .get(b"cuDeviceGetCount\0")
            .map_err(|err| format!("the NVIDIA driver has no cuDeviceGetCount: {err}"))?;
        let name_of: libloading::Symbol<'_, CuDeviceGetName> = library
            .get(b"cuDeviceGetName\0")
            .map_err(|err| format!("the NVIDIA driver has no cuDeviceGetName: {err}"))?;
        let code = init(0);
        if code != 0 {
            return Err(format!(
                "the NVIDIA driver did not start (cuInit error {code}{})",
                if code == 100 { ": no CUDA device" } else { "" }
            ));
        }
        let mut devices: c_int = 0;
        let code = count(&mut devices);
        if code != 0 {
            return Err(format!(
                "the NVIDIA driver could not count devices (error {code})"
            ));
        }
        if devices <= 0 {
            return Err("the NVIDIA driver sees no CUDA device".to_owned());
        }
        Ok((0..devices)
            .map(|ordinal| {
                let mut buffer = [0 as c_char; 256];
                let name = if name_of(buffer.as_mut_ptr(), 256, ordinal) == 0 {
                    let bytes: Vec<u8> = buffer
                        .iter()
                        .take_while(|&&c| c != 0)
                        .map(|&c| c as u8)
                        .collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                } else {
                    "unknown NVIDIA GPU".to_owned()
                };
                CudaDeviceInfo {
                    index: usize::try_from(ordinal).unwrap_or(0),
                    name,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine without the driver (CI, this repository's dev machines) the probe says
    /// so in one line instead of panicking; with one, every device has a name.
    #[test]
    fn probe_answers_without_panicking() {
        match cuda_devices() {
            Ok(devices) => {
                assert!(!devices.is_empty());
                assert!(devices.iter().all(|d| !d.name.is_empty()));
            }
            Err(reason) => {
                assert!(!reason.contains('\n'), "{reason}");
                assert!(reason.contains("NVIDIA"), "{reason}");
            }
        }
    }
}
