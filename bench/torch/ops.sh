#!/usr/bin/env bash
# Single ops (2-D convolution forward and forward + backward, matmul) on Burn's CPU backend
# and in PyTorch CPU, in one run on one machine: the numbers behind the upstream note in
# docs/benchmarks.md. Uses the torch venv that bench/torch/run.sh installs.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${HOME}/.cache/augflow-bench/torch-venv"
[[ -x "$venv/bin/python" ]] || { echo "run bench/torch/run.sh once first (it installs torch)" >&2; exit 1; }
cargo bench -p augflow-stages --profile bench --bench conv_ops
"$venv/bin/python" bench/torch/conv_ops.py --threads "$(nproc)"
