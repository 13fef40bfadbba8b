#!/usr/bin/env bash
# The README's main command: set up, build, run the demo pipeline on the embedded phantom
# data, then show what it produced. Run it twice: the second run is all cached.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --bin augflow
bin=${CARGO_TARGET_DIR:-target}/release/augflow
"$bin" run pipelines/demo.yaml
"$bin" show summary -p pipelines/demo.yaml
echo "outputs by stage name: pipelines/.augflow/out/<stage>/<output>; try: $bin status pipelines/demo.yaml"
