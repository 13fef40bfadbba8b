#!/usr/bin/env bash
# A/B of the per-worker thread pools (src/runner/worker_pool.rs) against rayon's shared
# global pool: the classifier sweep of bench/recipes at -j 2, each run in a fresh copy of
# the pipeline so nothing is cached. Needs the release binary (`cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/release/augflow"
work="$(mktemp -d)"
for mode in pool shared; do
    mkdir -p "$work/$mode"
    cp bench/recipes/classifiers.yaml "$work/$mode/"
    AUGFLOW_WORKER_POOL=$mode /usr/bin/time -f "$mode: wall %e s, user %U s, sys %S s, cpu %P" \
        "$bin" run "$work/$mode/classifiers.yaml" -j 2 --backend cpu 2> "$work/$mode.log" >/dev/null \
        || { cat "$work/$mode.log" >&2; exit 1; }
    tail -n 1 "$work/$mode.log"
    "$bin" metrics "$work/$mode/classifiers.yaml" --stage score --md > "$work/$mode.md"
done
cmp -s "$work/pool.md" "$work/shared.md" && echo "scores: identical" || echo "scores: differ (see $work)"
