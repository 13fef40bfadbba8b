# Shared by bench/slurm/overhead.sh and bench/slurm_grid.sh; sourced, not run.

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
