#!/usr/bin/env bash
# The README's main command: set up, build, run the scaled-down study
# (pipelines/quickstart.yaml: phantom data, GAN + DDPM, two tiny classifiers, two amounts,
# two repeats) on the CPU or a GPU, and write its report. Run it twice: the second run is
# all cached and only rewrites the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --bin augflow
bin=${CARGO_TARGET_DIR:-target}/release/augflow
"$bin" report pipelines/quickstart.yaml -j "$(nproc)"
echo "open pipelines/report/index.html; tables in pipelines/report/tables.md"
echo "outputs by stage name: pipelines/.augflow/out/<stage>/<output>; try: $bin status pipelines/quickstart.yaml"
