#!/usr/bin/env bash
# Burn (flex, wgpu) vs PyTorch CPU training-step times, in one run on one machine.
# Installs torch from PyPI into a venv under ~/.cache/augflow-bench on first use.
# Writes bench/torch/results.md (results_bench.md with BENCH_PROFILE=bench).
# Usage: bench/torch/run.sh [burn backends…] (default: cpu wgpu)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${HOME}/.cache/augflow-bench/torch-venv"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch
fi
backends=("$@")
[[ ${#backends[@]} -gt 0 ]] || backends=(cpu wgpu)
out="$(mktemp)"
threads="$(nproc)"
# Dev profile by default: dependencies (all of Burn) are built at opt-level 2 there, and it
# reuses the test build instead of a 20-minute release build of Burn. BENCH_PROFILE=bench
# measures the optimised build (the one `scripts/demo.sh` runs).
cargo bench -p augflow-stages --profile "${BENCH_PROFILE:-dev}" --bench train_step -- "${backends[@]}" | tee -a "$out"
"$venv/bin/python" bench/torch/train_step.py --threads "$threads" | tee -a "$out"
results="bench/torch/results${BENCH_PROFILE:+_$BENCH_PROFILE}.md"
python3 bench/torch/table.py "$out" "$threads" "${BENCH_PROFILE:-dev}" > "$results"
cat "$results"
