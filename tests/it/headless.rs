//! What a newcomer sees on a machine without a display.

use crate::common::{TestProject, phantom_data};

/// A generator picks its device with `--backend auto`, which probes Vulkan: on a machine
/// with Mesa's device-select layer and no display, libwayland used to print "error:
/// XDG_RUNTIME_DIR is invalid or not set in the environment." twice per run.
#[test]
fn probing_the_gpu_without_a_display_prints_nothing_on_the_terminal() {
    let pipeline = phantom_data("healthy: 20, viral: 20")
        + r#"  split:
    kind: split.patient
    inputs: {images: data.images}
  gan:
    kind: train.gan
    inputs: {train: split.train}
    params: {image_size: 32, steps: 2}
"#;
    let project = TestProject::new(&pipeline);
    let output = project
        .command(&["run", "--backend", "auto"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .output()
        .expect("run augflow");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}
