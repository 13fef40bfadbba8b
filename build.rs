//! Links the `augflow` binary as a position-dependent executable on Linux.
//!
//! A no-op `augflow run` is mostly process start-up, and most of that was the dynamic
//! loader applying the binary's ~254,000 relative relocations (Burn and wgpu make it
//! 157 MB): about 1,200 page faults before `main`. Linked with `-no-pie` the same objects
//! need ~300 relocations, and `augflow --version` starts in 1.6 ms instead of 4.0 ms
//! (docs/benchmarks.md). Only the final link of the binary changes (no dependency is
//! rebuilt); the cost is that the executable itself is not address-randomised (shared
//! libraries still are), as with most Go binaries. Set `AUGFLOW_PIE=1` when building to
//! keep a position-independent executable.

fn main() {
    println!("cargo:rerun-if-env-changed=AUGFLOW_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let pie = std::env::var("AUGFLOW_PIE").is_ok_and(|v| v == "1");
    if linux && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
