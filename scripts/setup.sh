#!/usr/bin/env bash
# One place that prepares a machine for augflow: used by both README commands and by CI.
# Checks the Rust toolchain and installs the system packages the build and tests need.
set -euo pipefail

# System packages by Debian name. The engine needs only a POSIX `sh` for shell stages.
# Mesa's Vulkan drivers give wgpu an adapter on machines without a GPU (lavapipe, software),
# so the wgpu test runs everywhere; with a GPU the vendor's driver is used instead.
# Chromium runs the reader-study page headless in tests/it/reader_study.rs.
APT_PACKAGES=(mesa-vulkan-drivers chromium)

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust ${RUST_VERSION:-1.95} with rustup first" >&2
    exit 1
fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})) && ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: please install ${missing[*]} (or your system's equivalent); continuing" >&2
    missing=()
fi
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi
