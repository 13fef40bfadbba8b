#!/usr/bin/env bash
# Remote pull benchmark for docs/benchmarks.md: the artifacts of a 600-node pipeline (one
# 4 KiB file per node) pulled from a local S3-compatible server into a fresh project, by
# `augflow pull` and by `dvc pull`, timed side by side in one run, with the requests each
# made counted by the server itself (cache/examples/s3_bench_server.rs).
#
#   bench/remote/pull.sh [RUNS]      (default 5 fresh pulls per tool, alternating order)
#
# Installs dvc[s3] from PyPI in a venv under ~/.cache/augflow-bench. Measures the dev build
# of augflow (dependencies at opt-level 2; see Cargo.toml), or AUGFLOW_BIN if set.
# Writes bench/remote/results.md.
set -euo pipefail
runs=${1:-5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
tools=${AUGFLOW_BENCH_TOOLS:-$HOME/.cache/augflow-bench}
dvc_version=3.67.1
work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$tools"

[[ -x $tools/dvc-s3-venv/bin/dvc ]] || {
    python3 -m venv "$tools/dvc-s3-venv"
    "$tools/dvc-s3-venv/bin/pip" install -q "dvc[s3]==$dvc_version"
}
dvc=$tools/dvc-s3-venv/bin/dvc
target=${CARGO_TARGET_DIR:-$repo/target}
# AUGFLOW_BIN=path: measure that augflow binary instead of building the tree's (dev profile).
[[ -n ${AUGFLOW_BIN:-} ]] || (cd "$repo" && cargo build -q --bin augflow)
(cd "$repo" && cargo build -q -p augflow-cache --example s3_bench_server)
# Copies: teammates rebuilding target/ during the benchmark must not swap the binaries.
cp "${AUGFLOW_BIN:-$target/debug/augflow}" "$work/augflow"
cp "$target/debug/examples/s3_bench_server" "$work/s3_bench_server"
augflow=$work/augflow
server=$work/s3_bench_server

# --- the server: one bucket per tool, same process, same counter ------------------------
mkdir -p "$work/s3/augflow-bench" "$work/s3/dvc-bench"
"$server" --root "$work/s3" --port-file "$work/port" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
endpoint=http://127.0.0.1:$(cat "$work/port")
export AWS_ACCESS_KEY_ID=augflow-bench AWS_SECRET_ACCESS_KEY=augflow-bench-secret
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
# No ~/.aws profile may change what either client does (botocore rejects /dev/null here).
: > "$work/aws-empty"
export AWS_CONFIG_FILE=$work/aws-empty AWS_SHARED_CREDENTIALS_FILE=$work/aws-empty
export DVC_NO_ANALYTICS=1 AUGFLOW_LOG=warn
# The user config that trusts the projects' remote (augflow remote trust, below).
export AUGFLOW_CONFIG_DIR=$work/user-config
unset AUGFLOW_STORE AUGFLOW_REMOTE
counts() { curl -sf "$endpoint/?augflow-bench=counts"; }
reset() { curl -sf -X POST "$endpoint/?augflow-bench=reset" > /dev/null; }

# --- the same 600-node matrix for both tools ----------------------------------------------
axes='      generator: [gan, ddpm, finetune, lora, dreambooth, baseline]
      classifier: [resnet50, effnet_b0, effnet_b1, convnext_t, convnext_s]
      amount: [100, 250, 500, 750, 1000]
      repeat: [1, 2, 3, 4]'
cell='${generator}-${classifier}-${amount}-${repeat}'
line='${generator} ${classifier} ${amount} ${repeat}'
# 4096 bytes per node, deterministic, different for every node.
cmd="mkdir -p cells && yes '$line' | head -c 4096 > cells/$cell.txt"

a=$work/augflow-a
mkdir -p "$a"
cat > "$a/augflow.yaml" <<YAML
stages:
  cell:
    matrix:
$axes
    cmd: "$cmd"
    outs: ["cells/$cell.txt"]
YAML
cat > "$a/augflow.toml" <<TOML
[remote]
default = "bench"

[remotes.bench]
type = "s3"
bucket = "augflow-bench"
prefix = "cache"
endpoint = "$endpoint"
region = "us-east-1"
push = "manual"
TOML
(cd "$a" && "$augflow" remote trust bench > /dev/null && "$augflow" run -j 2 > /dev/null \
    && "$augflow" push > "$work/augflow-push.txt")
nodes=$(cd "$a" && "$augflow" dag | grep -c '^cell@')
[[ $nodes == 600 ]]

d=$work/dvc-a
mkdir -p "$d"
# DVC's matrix names values ${item.<axis>}; the stages are named cell@<values> like ours.
{
    echo "stages:"
    echo "  cell:"
    echo "    matrix:"
    echo "$axes"
    echo "    cmd: \"${cmd//\$\{/\$\{item.}\""
    echo "    outs: [\"cells/${cell//\$\{/\$\{item.}.txt\"]"
} > "$d/dvc.yaml"
(
    cd "$d"
    git init -q && git config user.email bench@augflow.invalid && git config user.name bench
    "$dvc" init -q
    "$dvc" config core.analytics false
    "$dvc" config core.check_update false
    "$dvc" remote add -q -d bench s3://dvc-bench/cache
    "$dvc" remote modify bench endpointurl "$endpoint"
    # The stages' own commands, run by a shell loop and recorded with `dvc commit`: the
    # dvc.lock and cache `dvc repro` would write, without its 6+ minutes for 600 stages here.
    mkdir cells
    for g in gan ddpm finetune lora dreambooth baseline; do
        for c in resnet50 effnet_b0 effnet_b1 convnext_t convnext_s; do
            for n in 100 250 500 750 1000; do
                for r in 1 2 3 4; do
                    { yes "$g $c $n $r" | head -c 4096 || true; } > "cells/$g-$c-$n-$r.txt"
                done
            done
        done
    done
    "$dvc" commit -f -q
    git add -A > /dev/null && git commit -qm pipeline
    "$dvc" push -q
)
for f in "$a"/cells/*.txt; do cmp -s "$f" "$d/cells/${f##*/}"; done
[[ $(ls "$d/cells" | grep -c '\.txt$') == 600 ]]

# --- timed pulls into fresh projects ------------------------------------------------------
now() { date +%s.%N; }
results=$work/results.jsonl
# record TOOL RUN T0 T1: one JSON line with the wall time and the server's counts.
record() {
    local seconds
    seconds=$(awk -v a="$3" -v b="$4" 'BEGIN { printf "%.3f", b - a }')
    echo "{\"tool\": \"$1\", \"run\": $2, \"seconds\": $seconds, \"load1\": $(cut -d' ' -f1 /proc/loadavg), \"server\": $(counts)}" >> "$results"
}
# pull_augflow RUN LABEL ARGS…: `augflow ARGS…` in a fresh project B (pipeline and
# augflow.toml only, empty store).
pull_augflow() {
    local run=$1 label=$2 b=$work/augflow-b
    shift 2
    mkdir -p "$b" && cp "$a/augflow.yaml" "$a/augflow.toml" "$b/"
    (cd "$b" && "$augflow" remote trust bench > /dev/null)
    reset
    local t0 t1
    t0=$(now)
    (cd "$b" && "$augflow" "$@" > "$work/augflow-out.txt" 2>&1)
    t1=$(now)
    record "$label" "$run" "$t0" "$t1"
    for f in "$a"/cells/*.txt; do cmp -s "$f" "$b/cells/${f##*/}"; done
    [[ $(ls "$b/cells" | grep -c '\.txt$') == 600 ]]
    rm -rf "$b"
}
pull_dvc() {
    local b=$work/dvc-b-$1
    git clone -q "$d" "$b"
    reset
    local t0 t1
    t0=$(now)
    (cd "$b" && "$dvc" pull -q)
    t1=$(now)
    record "dvc pull" "$1" "$t0" "$t1"
    for f in "$a"/cells/*.txt; do cmp -s "$f" "$b/cells/${f##*/}"; done
    [[ $(ls "$b/cells" | grep -c '\.txt$') == 600 ]]
    rm -rf "$b"
}
# Third row: `augflow pull -j 4`, half pull's default nodes in flight (DVC's default on
# this machine is 8 jobs), to show what the parallelism is worth.
for run in $(seq 1 "$runs"); do
    if ((run % 2)); then
        pull_augflow "$run" "augflow pull" pull
        pull_dvc "$run"
        pull_augflow "$run" "augflow pull -j 4" pull -j 4
    else
        pull_augflow "$run" "augflow pull -j 4" pull -j 4
        pull_dvc "$run"
        pull_augflow "$run" "augflow pull" pull
    fi
done

out=$repo/bench/remote/results.md
commit=$(git -C "$repo" rev-parse --short HEAD)
dirty=$(git -C "$repo" status --porcelain -- src cache Cargo.toml Cargo.lock | head -1)
python3 "$repo/bench/remote/table.py" "$results" \
    "$nodes" "$(nproc)" "augflow $("$augflow" --version | cut -d' ' -f2) (commit $commit${dirty:+, with uncommitted changes}, dev build)" \
    "dvc $("$dvc" --version) (s3fs $("$tools/dvc-s3-venv/bin/python" -c 'import s3fs; print(s3fs.__version__)'))" \
    "$(cat "$work/augflow-push.txt")" > "$out"
cat "$out"
