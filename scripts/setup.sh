#!/usr/bin/env bash
# One place that prepares a machine for augflow: used by both README commands and by CI.
# Checks the Rust toolchain and installs the system packages the build and tests need.
set -euo pipefail

# System packages by Debian name. The engine needs only a POSIX `sh` for shell stages;
# the Burn stages (wgpu on Mesa's software Vulkan driver) will add theirs here.
APT_PACKAGES=()

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust ${RUST_VERSION:-1.95} with rustup first" >&2
    exit 1
fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi
