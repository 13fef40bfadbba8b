fn main() -> std::process::ExitCode {
    quiet_headless_vulkan();
    augflow::cli::main()
}

/// Without a display, Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` still
/// asks Wayland for the default GPU when the wgpu backend is probed, and libwayland prints
/// "error: XDG_RUNTIME_DIR is invalid or not set in the environment." on the terminal, once
/// per probe. Headless there is no display GPU to prefer, so the layer is switched off
/// with its own variable (a user's explicit `NODEVICE_SELECT` wins).
fn quiet_headless_vulkan() {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if !set("DISPLAY") && !set("WAYLAND_DISPLAY") && std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: first thing in `main`, before any thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}
