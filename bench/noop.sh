#!/usr/bin/env bash
# Benchmarks for docs/benchmarks.md, all measured side by side in one run on this machine:
#   1. no-op rerun of the same 10-stage shell pipeline: augflow run, dvc repro, snakemake -n
#   2. no-op rerun of a generated 600-node matrix pipeline under augflow, and of 600 shell
#      stages that each read a file
#   3. hashing throughput of a 1 GiB file: augflow's hasher against b3sum
# Installs hyperfine (apt), dvc and snakemake (PyPI, in a venv) and b3sum (crates.io) under
# ~/.cache/augflow-bench. Writes a Markdown report to bench/results.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${AUGFLOW_BENCH_TOOLS:-$HOME/.cache/augflow-bench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$tools"

command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
[[ -x $tools/venv/bin/dvc && -x $tools/venv/bin/snakemake ]] || {
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q dvc snakemake
}
[[ -x $tools/bin/b3sum ]] || cargo install -q --locked --root "$tools" b3sum
(cd "$repo" && cargo build -q --release --locked --bin augflow)
augflow=${CARGO_TARGET_DIR:-$repo/target}/release/augflow
export PATH="$tools/venv/bin:$tools/bin:$PATH"

# --- 1. the same 10-stage chain for the three tools -------------------------------------
chain=$work/chain
mkdir -p "$chain"/{augflow,dvc,snakemake}
echo seed > "$chain/augflow/input.txt"
cp "$chain/augflow/input.txt" "$chain/dvc/"
cp "$chain/augflow/input.txt" "$chain/snakemake/"
# augflow and DVC read the same `stages:` format (the command is a plain YAML scalar).
chain_stages() {
    echo "stages:"
    local prev=input.txt
    for i in $(seq 1 10); do
        printf '  s%d:\n    cmd: cat %s > s%d.txt && echo %d >> s%d.txt\n    deps: [%s]\n    outs: [s%d.txt]\n' \
            "$i" "$prev" "$i" "$i" "$i" "$prev" "$i"
        prev=s$i.txt
    done
}
chain_stages > "$chain/augflow/augflow.yaml"
chain_stages > "$chain/dvc/dvc.yaml"
{
    echo "rule all:"
    echo "    input: 's10.txt'"
    prev=input.txt
    for i in $(seq 1 10); do
        printf 'rule s%d:\n    input: "%s"\n    output: "s%d.txt"\n    shell: "cat {input} > {output} && echo %d >> {output}"\n' \
            "$i" "$prev" "$i" "$i"
        prev=s$i.txt
    done
} > "$chain/snakemake/Snakefile"

(cd "$chain/augflow" && "$augflow" run > /dev/null 2>&1)
(cd "$chain/dvc" && git init -q && dvc init -q && dvc repro -q > /dev/null 2>&1)
(cd "$chain/snakemake" && snakemake -c1 -q > /dev/null 2>&1)
for i in $(seq 1 10); do
    cmp -s "$chain/augflow/s$i.txt" "$chain/dvc/s$i.txt"
    cmp -s "$chain/augflow/s$i.txt" "$chain/snakemake/s$i.txt"
done

# --- 2. a 600-node matrix ----------------------------------------------------------------
grid=$work/grid
mkdir -p "$grid"
cat > "$grid/augflow.yaml" <<'YAML'
stages:
  cell:
    matrix:
      generator: [gan, ddpm, finetune, lora, dreambooth, baseline]
      classifier: [resnet50, effnet_b0, effnet_b1, convnext_t, convnext_s]
      amount: [100, 250, 500, 750, 1000]
      repeat: [1, 2, 3, 4]
    cmd: "echo ${generator} ${classifier} ${amount} ${repeat} > cells/${generator}-${classifier}-${amount}-${repeat}.txt"
    outs: ["cells/${generator}-${classifier}-${amount}-${repeat}.txt"]
YAML
(cd "$grid" && "$augflow" run -j 2 > /dev/null 2>&1)
nodes=$(cd "$grid" && "$augflow" dag | grep -c '^cell@')

# --- 2b. 600 shell stages, each with a file dependency -----------------------------------
deps=$work/deps
mkdir -p "$deps/in"
for i in $(seq 1 600); do echo "$i" > "$deps/in/$i.txt"; done
cat > "$deps/augflow.yaml" <<YAML
stages:
  copy:
    matrix:
      i: [$(seq -s, 1 600)]
    cmd: "mkdir -p out && cat in/\${i}.txt > out/\${i}.txt"
    deps: ["in/\${i}.txt"]
    outs: ["out/\${i}.txt"]
YAML
(cd "$deps" && "$augflow" run -j 2 > /dev/null 2>&1)

# --- 3. hashing a 1 GiB file -------------------------------------------------------------
head -c 1073741824 /dev/urandom > "$work/1g.bin"
[[ $("$augflow" hash "$work/1g.bin" | cut -d' ' -f1) == $(b3sum "$work/1g.bin" | cut -d' ' -f1) ]]

sleep 3 # past the stat cache's 2 s racy window, so no-op runs are true no-ops
out=$repo/bench/results.md
{
    echo "# Benchmark run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores"
    echo
    echo "augflow $("$augflow" --version | cut -d' ' -f2), $(dvc --version | head -1 | sed 's/^/dvc /'), snakemake $(snakemake --version), $(b3sum --version), $(hyperfine --version)"
    echo
    echo "## No-op rerun, 10-stage shell chain"
} > "$out"
hyperfine -N -w 3 -r 20 --export-markdown "$work/t1.md" \
    -n "augflow run" "bash -c 'cd $chain/augflow && $augflow run'" \
    -n "dvc repro" "bash -c 'cd $chain/dvc && dvc repro -q'" \
    -n "snakemake -n" "bash -c 'cd $chain/snakemake && snakemake -n -q'" > /dev/null
cat "$work/t1.md" >> "$out"
echo -e "\n## No-op rerun, $nodes-node matrix (augflow)" >> "$out"
hyperfine -N -w 3 -r 20 --export-markdown "$work/t2.md" \
    -n "augflow run ($nodes nodes)" "bash -c 'cd $grid && $augflow run'" > /dev/null
cat "$work/t2.md" >> "$out"
echo -e "\n## No-op rerun, 600 shell stages with file deps (augflow)" >> "$out"
hyperfine -N -w 3 -r 20 --export-markdown "$work/t2b.md" \
    -n "augflow run (600 stages, file deps)" "bash -c 'cd $deps && $augflow run'" > /dev/null
cat "$work/t2b.md" >> "$out"
echo -e "\n## Hashing a 1 GiB file (page cache warm)" >> "$out"
hyperfine -N -w 2 -r 10 --export-markdown "$work/t3.md" \
    -n "b3sum" "b3sum $work/1g.bin" \
    -n "augflow hash" "$augflow hash $work/1g.bin" > /dev/null
cat "$work/t3.md" >> "$out"
cat "$out"
