//! A long grid trains hundreds of classifiers in one `augflow run` process. Burn's issue
//! tracker reports device memory growing across trainings (tracel-ai/burn #4792, #5212),
//! so this trains the same tiny classifier 20 times in one process on the CPU backend and
//! checks that resident memory stops growing once the first trainings have warmed the
//! allocator. Alone in its test binary: other tests' threads would move the numbers.
//! `AUGFLOW_TEST_BACKEND=cuda` (or `wgpu`) runs the same trainings on a GPU and also checks
//! the device allocator's reserved bytes: that is the GPU check `bench/gpu.sh` runs.

mod classifier_support;

use std::sync::atomic::AtomicBool;

use augflow_stages::backend::{BackendChoice, select_device};
use augflow_stages::classifiers::Architecture;
use classifier_support::{phantom_splits, tiny_config};

/// Trainings before the baseline is taken: allocator arenas, rayon's pool and Burn's
/// caches fill during the first ones.
const WARM_UP: usize = 5;
const TRAININGS: usize = 20;

/// Resident set size in bytes: `VmRSS` of /proc/self/status (statm's resident field,
/// already in kB so no page size is assumed).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

#[test]
fn resident_memory_is_flat_across_20_trainings() {
    let splits = phantom_splits(5, 7);
    let config = tiny_config(Architecture::ResNet50, 1);
    let choice: BackendChoice = std::env::var("AUGFLOW_TEST_BACKEND")
        .unwrap_or_else(|_| "cpu".to_owned())
        .parse()
        .expect("AUGFLOW_TEST_BACKEND is cpu, cuda or wgpu");
    let device = select_device(choice).unwrap();
    let mut reserved = Vec::with_capacity(TRAININGS);
    let cancel = AtomicBool::new(false);
    let mut resident = Vec::with_capacity(TRAININGS);
    let mut weights_bytes = 0;
    for _ in 0..TRAININGS {
        let out = tempfile::tempdir().unwrap();
        splits
            .fit(&config, 3, out.path(), &device, &cancel)
            .unwrap();
        weights_bytes = std::fs::read_dir(out.path())
            .unwrap()
            .map(|entry| entry.unwrap().metadata().unwrap().len())
            .sum::<u64>();
        resident.push(resident_bytes());
        if let Some(usage) = device.device.memory_pool_usage() {
            reserved.push(usage.bytes_reserved);
        }
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let trace: Vec<String> = resident.iter().map(|&b| format!("{:.1}", mib(b))).collect();
    eprintln!(
        "resident MiB after each training: {}; one model's files: {:.2} MiB",
        trace.join(" "),
        mib(weights_bytes)
    );
    // After warm-up, the 15 later trainings may add at most a few models' worth of memory
    // in all: a leak of even one model's weights (plus its Adam state, 3× as much) per
    // training would add 15 × 4 models. 16 MiB covers allocator noise.
    if !reserved.is_empty() {
        let trace: Vec<String> = reserved.iter().map(|&b| format!("{:.1}", mib(b))).collect();
        eprintln!("{} reserved MiB: {}", device.name, trace.join(" "));
        assert!(
            growth_after_warm_up(&reserved) <= 64 * 1024 * 1024 + 4 * weights_bytes,
            "device memory grew after warm-up: {}",
            trace.join(" ")
        );
    }
    let growth = growth_after_warm_up(&resident);
    let allowed = 16 * 1024 * 1024 + 4 * weights_bytes;
    assert!(
        growth <= allowed,
        "resident memory grew {:.1} MiB after warm-up (allowed {:.1} MiB): {}",
        mib(growth),
        mib(allowed),
        trace.join(" ")
    );
}

/// How far the later samples of `bytes` (one per training) peak above the last warm-up
/// one; 0 if they never exceed it.
fn growth_after_warm_up(bytes: &[u64]) -> u64 {
    let baseline = bytes[WARM_UP - 1];
    let peak_after = bytes[WARM_UP..].iter().copied().max().unwrap_or(baseline);
    peak_after.saturating_sub(baseline)
}
