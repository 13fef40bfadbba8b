#!/usr/bin/env bash
# Scheduling overhead of the Slurm executor, on the one-node cluster of
# scripts/slurm-cluster.sh, for augflow, Snakemake's Slurm executor (when it installs) and
# bare `sbatch` jobs (the cluster's own floor), all in the same run:
#
#   1. NODES (50) independent trivial nodes: per node "submission → start" = when the
#      stage's own command starts (it writes `date +%s.%N`) minus when `sbatch` was called
#      for it (a shim first on PATH records the time and the job id, for every tool alike),
#      and the wall time of the whole run.
#   2. A chain of CHAIN (10) trivial nodes: per hop "start of node i-1 → start of node i",
#      i.e. how fast a dependent job starts once its input exists.
#
#   bash bench/slurm/overhead.sh                              # builds augflow (release)
#   AUGFLOW_BIN=target/debug/augflow bash bench/slurm/overhead.sh
#
# Snakemake and snakemake-executor-plugin-slurm are installed from PyPI into
# ~/.cache/augflow-bench/snakemake-venv. Prints Markdown tables on stdout. KEEP=1 keeps
# the work folder.
set -euo pipefail
source "$(dirname "$0")/common.sh"
NODES="${NODES:-50}"
CHAIN="${CHAIN:-10}"
make_work_dir /tmp/augflow-slurm-bench.XXXXXX

# A release build of the workspace takes minutes; AUGFLOW_BIN=path skips it.
if [ -z "${AUGFLOW_BIN:-}" ]; then
    cargo build --release --quiet --bin augflow
fi
AUGFLOW="${AUGFLOW_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/augflow}"
# Snakemake's job-step plugin drops SLURM_CONF before its inner srun: link /etc/slurm.
AUGFLOW_SLURM_ETC=1 bash scripts/slurm-cluster.sh start
eval "$(bash scripts/slurm-cluster.sh env)"

VENV="$HOME/.cache/augflow-bench/snakemake-venv"
install_snakemake "$VENV" "its rows are"

# sbatch shim: records "submit-time job-id" for every submission, then answers as sbatch.
REAL_SBATCH="$(command -v sbatch)"
write_sbatch_shim "$WORK/shim" <<SHIM
t=\$(date +%s.%N)
out=\$("$REAL_SBATCH" "\$@") || exit \$?
echo "\$out"
echo "\$t \${out%%;*}" | sed -E 's/ .*Submitted batch job / /' >> "\$BENCH_SUBMITS"
SHIM

# What every stage runs: its start time and job id, then its output.
stage_cmd() { # i [input]
    local read="" 
    [ -n "${2:-}" ] && read="cat $2 >/dev/null && "
    echo "echo \"\$(date +%s.%N) \$SLURM_JOB_ID\" > starts/n$1 && ${read}echo $1 > out/n$1.txt"
}

summarise() { # shape tool dir wall
    python3 - "$@" <<'PY'
import pathlib, statistics, sys
shape, tool, d, wall = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), float(sys.argv[4])
starts = {}
for f in (d / "starts").iterdir():
    t, job = f.read_text().split()
    starts[int(f.name[1:])] = (float(t), job)
if shape == "independent":
    submits = {}
    for line in (d / "submits.log").read_text().splitlines():
        if line.strip():
            t, job = line.split()[:2]
            submits[job] = float(t)
    values = [t - submits[job] for t, job in starts.values()]
else:
    order = sorted(starts)
    values = [starts[b][0] - starts[a][0] for a, b in zip(order, order[1:])]
values.sort()
n = len(values)
p90 = values[min(n - 1, int(0.9 * n))]
print(f"| {tool} | {len(starts)} | {statistics.median(values):.2f} | {p90:.2f} | "
      f"{values[0]:.2f} | {values[-1]:.2f} | {wall:.1f} |", flush=True)
PY
}

now() { date +%s.%N; }
since() { python3 -c "print($(now) - $1)"; }

bare() { # shape n
    local shape="$1" n="$2" dir="$WORK/$1-bare" prev="" start
    mkdir -p "$dir/starts" "$dir/out"
    start=$(now)
    for i in $(seq 1 "$n"); do
        local dep=() input=""
        if [ "$shape" = chain ] && [ -n "$prev" ]; then
            dep=(--dependency=afterok:"$prev")
            input="out/n$((i - 1)).txt"
        fi
        prev=$(cd "$dir" && BENCH_SUBMITS="$dir/submits.log" PATH="$WORK/shim:$PATH" \
            sbatch --parsable --job-name=bench-bare --output=/dev/null "${dep[@]}" \
            --wrap "$(stage_cmd "$i" "$input")")
    done
    while [ "$(squeue -h -t PD,R,CG,CF -n bench-bare | wc -l)" -gt 0 ]; do sleep 0.1; done
    summarise "$shape" "sbatch --wrap (floor: no workflow tool)" "$dir" "$(since "$start")"
}

augflow_run() { # shape n
    local shape="$1" n="$2" dir="$WORK/$1-augflow" start
    mkdir -p "$dir/starts"
    {
        echo "stages:"
        for i in $(seq 1 "$n"); do
            local input=""
            [ "$shape" = chain ] && [ "$i" -gt 1 ] && input="out/n$((i - 1)).txt"
            echo "  n$i:"
            echo "    cmd: '$(stage_cmd "$i" "$input")'"
            [ -n "$input" ] && echo "    deps: [$input]"
            echo "    outs: [out/n$i.txt]"
        done
    } >"$dir/augflow.yaml"
    printf '[executor.slurm]\npoll_seconds = 0.5\n' >"$dir/augflow.toml"
    start=$(now)
    (cd "$dir" && BENCH_SUBMITS="$dir/submits.log" PATH="$WORK/shim:$PATH" \
        "$AUGFLOW" run --executor slurm --json >"$dir/events.jsonl" 2>"$dir/stderr.log") ||
        { echo "augflow failed:" >&2; tail -30 "$dir/stderr.log" >&2; exit 1; }
    summarise "$shape" "augflow $("$AUGFLOW" --version | cut -d' ' -f2)" "$dir" "$(since "$start")"
}

snakemake_run() { # shape n
    local shape="$1" n="$2" dir="$WORK/$1-snakemake" start input
    [ -x "$VENV/bin/snakemake" ] || return 0
    mkdir -p "$dir/starts"
    input='[]'
    [ "$shape" = chain ] && input='lambda w: [f"out/n{int(w.i) - 1}.txt"] if int(w.i) > 1 else []'
    cat >"$dir/Snakefile" <<SMK
rule all:
    input: expand("out/n{i}.txt", i=range(1, $n + 1))
localrules: all
rule node:
    input: $input
    output: "out/n{i}.txt"
    shell: 'echo "\$(date +%s.%N) \$SLURM_JOB_ID" > starts/n{wildcards.i} && echo {wildcards.i} > {output}'
SMK
    local label
    label="$(snakemake_label "$VENV")"
    start=$(now)
    # Status checks as often as augflow's.
    run_snakemake_slurm "$dir" "$VENV" "$n" ||
        { echo "snakemake failed:" >&2; tail -30 "$dir/stderr.log" >&2; exit 1; }
    summarise "$shape" "$label" "$dir" "$(since "$start")"
}

echo "### $NODES independent trivial nodes: submission → start of the stage's command (s)"
echo
echo "| tool | jobs | median | p90 | min | max | wall time (s) |"
echo "|---|---|---|---|---|---|---|"
bare independent "$NODES"
augflow_run independent "$NODES"
snakemake_run independent "$NODES"
echo
echo "### A chain of $CHAIN trivial nodes: start of node i-1 → start of node i (s)"
echo
echo "| tool | jobs | median | p90 | min | max | wall time (s) |"
echo "|---|---|---|---|---|---|---|"
bare chain "$CHAIN"
augflow_run chain "$CHAIN"
snakemake_run chain "$CHAIN"
