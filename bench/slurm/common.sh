# Shared by bench/slurm/overhead.sh and bench/slurm_grid.sh; sourced, not run. Sourcing it
# moves to the repository root, which ROOT names.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# Makes the work folder WORK from the mktemp template $1, removed on exit unless KEEP is
# set.
make_work_dir() { # template
    WORK="$(mktemp -d "$1")"
    [ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
}

# Installs Snakemake and its Slurm executor plugin into the venv $1 unless it is there;
# on failure says that $2 is left out of the results.
install_snakemake() { # venv what
    [ -x "$1/bin/snakemake" ] && return 0
    { python3 -m venv "$1" &&
        "$1/bin/pip" install -q snakemake snakemake-executor-plugin-slurm >&2; } ||
        echo "snakemake did not install; $2 left out" >&2
}

# Writes the executable $1/sbatch from the bash lines on stdin; put $1 first on PATH.
write_sbatch_shim() { # dir
    mkdir -p "$1"
    { echo '#!/usr/bin/env bash'; cat; } >"$1/sbatch"
    chmod +x "$1/sbatch"
}

# "snakemake X, slurm plugin Y" for the venv $1.
snakemake_label() { # venv
    local plugin
    plugin="$("$1/bin/pip" show snakemake-executor-plugin-slurm | awk '/^Version/ {print $2}')"
    echo "snakemake $("$1/bin/snakemake" --version), slurm plugin $plugin"
}

# Runs the Snakefile in $1 with the venv $2's Snakemake on the Slurm executor, at most $3
# jobs queued, through the sbatch shim in $WORK/shim. Status checks every second (its
# defaults: first after 40 s, then every 10 s) through squeue (accounting is off on the
# benchmark cluster). Output goes to $1/stdout.log and $1/stderr.log.
run_snakemake_slurm() { # dir venv jobs
    (cd "$1" && BENCH_SUBMITS="$1/submits.log" PATH="$WORK/shim:$2/bin:$PATH" \
        snakemake --executor slurm --jobs "$3" --default-resources slurm_partition=debug \
        --slurm-init-seconds-before-status-checks 1 --seconds-between-status-checks 1 \
        --slurm-status-command squeue --latency-wait 5 --quiet all \
        >"$1/stdout.log" 2>"$1/stderr.log")
}
