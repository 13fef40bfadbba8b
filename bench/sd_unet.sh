#!/usr/bin/env bash
# SD v1.x U-Net training step (forward + backward, batch 1) on the CPU: Burn flex against
# PyTorch, in one run on one machine, with each process's peak resident memory. Default:
# the full SD v1-4 U-Net (859.5 M parameters) at 256 px (latent 32²); SIDES="32 64" adds
# 512 px. PyTorch and diffusers come from $SD_VENV (default ~/.cache/augflow-bench/sd-venv,
# installed from PyPI on first use). Prints a Markdown table for docs/benchmarks.md.
#
#   bash bench/sd_unet.sh                      # 256 px, 3 timed steps each
#   SIDES="32 64" STEPS=2 bash bench/sd_unet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Absolute: cargo runs the bench binary in the package folder.
CONFIG="$(realpath "${CONFIG:-stages/tests/fixtures/sd/sd-v1-4/unet/config.json}")"
SIDES="${SIDES:-32}"
STEPS="${STEPS:-3}"
THREADS="$(nproc)"
venv="${SD_VENV:-$HOME/.cache/augflow-bench/sd-venv}"
if ! "$venv/bin/python" -c 'import torch, diffusers' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch diffusers
fi
# The dev profile builds every dependency (all of Burn) at opt-level 2 and reuses the test
# build; BENCH_PROFILE=bench measures the release-optimised build.
cargo bench --workspace --locked --profile "${BENCH_PROFILE:-dev}" --bench sd_unet_step --no-run 2>/dev/null
out="$(mktemp)"
peak() { # command… → its JSON line with "peak_rss_mib" (GNU time's %M, in KiB) added
    local log json
    log="$(mktemp)"
    json="$(mktemp)"
    /usr/bin/time -f '%M' -o "$log" "$@" >"$json"
    python3 -c '
import json, sys
line = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
line["peak_rss_mib"] = round(int(open(sys.argv[2]).read().split()[-1]) / 1024)
print(json.dumps(line))' "$json" "$log"
}
for side in $SIDES; do
    peak cargo bench --workspace --locked --profile "${BENCH_PROFILE:-dev}" --bench sd_unet_step -- \
        "$CONFIG" "$side" "$STEPS" | tee -a "$out"
    peak "$venv/bin/python" bench/torch/sd_unet_step.py "$CONFIG" "$side" "$STEPS" "$THREADS" | tee -a "$out"
done
echo
echo "| framework | image px (latent) | parameters | first step (s) | median step (s) | peak RSS (GiB) |"
echo "|---|---|---|---|---|---|"
python3 - "$out" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"| {r['framework']} | {r['side'] * 8} ({r['side']}²) | {r['params'] / 1e6:.1f} M | "
          f"{r['first_ms'] / 1e3:.1f} | {r['median_ms'] / 1e3:.1f} | {r['peak_rss_mib'] / 1024:.1f} |")
PY
