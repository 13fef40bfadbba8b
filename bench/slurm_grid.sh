#!/usr/bin/env bash
# A grid of NODES (1,200) independent trivial nodes through the one-node cluster of
# scripts/slurm-cluster.sh: augflow's Slurm executor (at most MAX_QUEUED jobs queued at
# once, its default 500), then Snakemake's Slurm executor on SMK_NODES nodes (default
# NODES) with `--jobs MAX_QUEUED`, its own cap on jobs in flight. Per tool: wall time,
# sbatch calls (a shim first on PATH counts them), and the peak number of the run's jobs
# in the queue (pending, running or completing; array tasks one each), sampled with squeue
# every 0.5 s.
#
#   AUGFLOW_BIN=$CARGO_TARGET_DIR/debug/augflow bash bench/slurm_grid.sh
#   NODES=1200 SMK_NODES=100 CPUS=16 bash bench/slurm_grid.sh
#   SMK_NODES=0 bash bench/slurm_grid.sh      # augflow only
#
# CPUS (16) is the CPU count the node declares (AUGFLOW_SLURM_CPUS): trivial jobs barely
# use a core, and with the machine's own 2 the grid would wait on the cluster's job starts
# for half an hour. Snakemake and its plugin are installed from PyPI into $SMK_VENV
# (default /tmp/smk); without them their row is left out. Prints a Markdown table.
set -euo pipefail
source "$(dirname "$0")/slurm/common.sh"
NODES="${NODES:-1200}"
SMK_NODES="${SMK_NODES:-$NODES}"
MAX_QUEUED="${MAX_QUEUED:-500}"
CPUS="${CPUS:-16}"
SMK_VENV="${SMK_VENV:-/tmp/smk}"
make_work_dir /tmp/augflow-slurm-grid.XXXXXX

AUGFLOW="${AUGFLOW_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/augflow}"
[ -x "$AUGFLOW" ] || { echo "no augflow binary at $AUGFLOW (set AUGFLOW_BIN)" >&2; exit 2; }
# Snakemake's job-step plugin drops SLURM_CONF before its inner srun: link /etc/slurm.
AUGFLOW_SLURM_CPUS="$CPUS" AUGFLOW_SLURM_ETC=1 bash scripts/slurm-cluster.sh start
eval "$(bash scripts/slurm-cluster.sh env)"
if [ "$SMK_NODES" -gt 0 ]; then
    install_snakemake "$SMK_VENV" "its row is"
fi

# sbatch shim: one line per call, then answers as sbatch.
REAL_SBATCH="$(command -v sbatch)"
write_sbatch_shim "$WORK/shim" <<SHIM
echo call >> "\$BENCH_SUBMITS"
exec "$REAL_SBATCH" "\$@"
SHIM

# Samples how many jobs whose working directory is $1 are in the queue; the peak goes to $2.
sample_queue() { # dir out
    local dir peak=0 n
    dir="$(cd "$1" && pwd -P)"
    while [ ! -e "$1/.done" ]; do
        n="$(squeue -h -r -t PD,R,CG,CF --format='%Z' 2>/dev/null | grep -cxF "$dir" || true)"
        [ "$n" -gt "$peak" ] && peak="$n" && echo "$peak" >"$2"
        sleep 0.5
    done
}

now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.1f}')"; }

row() { # tool nodes dir wall
    local calls peak
    calls="$(wc -l <"$3/submits.log" 2>/dev/null || echo 0)"
    peak="$(cat "$3/peak" 2>/dev/null || echo 0)"
    echo "| $1 | $2 | $4 | $calls | $peak |"
}

augflow_run() {
    local dir="$WORK/augflow" start wall
    mkdir -p "$dir/out"
    cat >"$dir/augflow.yaml" <<YAML
stages:
  g:
    matrix:
      i: [$(seq -s, 1 "$NODES")]
    cmd: "echo \${i} > out/\${i}.txt"
    outs: ["out/\${i}.txt"]
YAML
    printf '[executor.slurm]\npoll_seconds = 1\nmax_queued = %s\n' "$MAX_QUEUED" >"$dir/augflow.toml"
    sample_queue "$dir" "$dir/peak" &
    start=$(now)
    (cd "$dir" && BENCH_SUBMITS="$dir/submits.log" PATH="$WORK/shim:$PATH" \
        "$AUGFLOW" run --executor slurm --json >"$dir/events.jsonl" 2>"$dir/stderr.log") ||
        { echo "augflow failed:" >&2; tail -30 "$dir/stderr.log" >&2; touch "$dir/.done"; exit 1; }
    wall="$(since "$start")"
    touch "$dir/.done"
    wait
    row "augflow $("$AUGFLOW" --version | cut -d' ' -f2) (max_queued $MAX_QUEUED)" "$NODES" "$dir" "$wall"
}

snakemake_run() {
    local dir="$WORK/snakemake" start wall label
    [ "$SMK_NODES" -gt 0 ] && [ -x "$SMK_VENV/bin/snakemake" ] || return 0
    mkdir -p "$dir/out"
    cat >"$dir/Snakefile" <<SMK
rule all:
    input: expand("out/{i}.txt", i=range(1, $SMK_NODES + 1))
localrules: all
rule node:
    output: "out/{i}.txt"
    shell: "echo {wildcards.i} > {output}"
SMK
    label="$(snakemake_label "$SMK_VENV")"
    sample_queue "$dir" "$dir/peak" &
    start=$(now)
    run_snakemake_slurm "$dir" "$SMK_VENV" "$MAX_QUEUED" ||
        { echo "snakemake failed:" >&2; tail -30 "$dir/stderr.log" >&2; touch "$dir/.done"; exit 1; }
    wall="$(since "$start")"
    touch "$dir/.done"
    wait
    row "$label (--jobs $MAX_QUEUED)" "$SMK_NODES" "$dir" "$wall"
}

echo "| tool | nodes | wall time (s) | sbatch calls | peak jobs in queue |"
echo "|---|---|---|---|---|"
augflow_run
snakemake_run
AUGFLOW_SLURM_ETC=1 bash scripts/slurm-cluster.sh stop
