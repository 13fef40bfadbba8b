#!/usr/bin/env bash
# Burn (flex, wgpu) vs PyTorch CPU: generator (DDPM, GAN) training-step time and sampling
# throughput, in one run on one machine. Installs torch from PyPI into a venv under
# ~/.cache/augflow-bench on first use. Writes bench/torch/generator_results.md.
# Usage: bench/torch/generators.sh [burn backends…] [cases…]
#   backends: cpu wgpu (default both); cases: ddpm32 gan32 gan64 (default all).
# BENCH_BUDGET_S (default 300) caps each Burn measurement; BENCH_REPEATS sets Burn's pairs.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${HOME}/.cache/augflow-bench/torch-venv"
# numpy: the sampling case reads images back with .numpy().
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import torch, numpy' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch numpy
fi
cases=()
for arg in "$@"; do
    case "$arg" in
        ddpm* | gan*) cases+=("$arg") ;;
    esac
done
out="$(mktemp)"
threads="$(nproc)"
# Dev profile by default: dependencies (all of Burn) are built at opt-level 2 there (our
# crate at opt-level 1), and it reuses the test build instead of a 20-minute release build
# of Burn. BENCH_PROFILE=bench measures the optimised build.
cargo bench -p augflow-stages --profile "${BENCH_PROFILE:-dev}" --bench generator_step -- "$@" | tee -a "$out"
"$venv/bin/python" bench/torch/generator_step.py --threads "$threads" "${cases[@]}" | tee -a "$out"
python3 bench/torch/generator_table.py "$out" "$threads" > bench/torch/generator_results.md
cat bench/torch/generator_results.md
