#!/usr/bin/env bash
# The GPU check in one command (issue 18.4): PyTorch CUDA vs Burn cuda vs Burn wgpu on the
# same shapes, device memory across 20 trainings, then the quickstart pipeline end to end
# on the GPU. Writes bench/gpu_results.md (a markdown table) and prints it.
#
#   bench/gpu.sh            # on a machine with one NVIDIA GPU: sized for 10 minutes on 16 cores
#   bench/gpu.sh --check    # anywhere: print the plan, check every script, binary and
#                           # argument it would use, run one tiny step of each on the CPU
#
# Environment:
#   AUGFLOW_BIN     a prebuilt `augflow` (else `cargo build --profile $PROFILE`)
#   PROFILE         cargo profile of the build and the bench harnesses (default: release;
#                   `--check` uses dev, which reuses the test build)
#   TORCH_PYTHON    a python with torch (+ torchvision) for CUDA; else a venv under
#                   ~/.cache/augflow-bench/torch-gpu-venv, filled from PyPI on first use
#   BENCH_BUDGET_S  seconds per Burn measurement (default 45)
#   BURN_CUDA=1     also measure Burn's CUDA backend: builds with `--features cuda`, whose
#                   build script downloads an LLVM bundle (needs network; not in this
#                   workplace, where Burn runs on the GPU through wgpu/Vulkan only)
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
[[ "${1:-}" == "--check" ]] && check=true
scratch="$(mktemp -d)"
results="$scratch/results.jsonl"
out_md=bench/gpu_results.md
$check && out_md="$scratch/gpu_check.md" # never overwrite a GPU run's table
profile="${PROFILE:-release}"
$check && profile="${PROFILE:-dev}"
backends=(wgpu)
features=()
if [[ "${BURN_CUDA:-}" == 1 ]]; then
    backends=(cuda wgpu)
    features=(--features cuda)
fi
export BENCH_BUDGET_S="${BENCH_BUDGET_S:-45}"
threads="$(nproc)"

# The grid. --check shrinks it to one tiny step per harness on the CPU.
classifier_models=resnet50,efficientnet_b0,convnext_tiny
classifier_sizes=224
classifier_batches=8,32
generator_cases=(ddpm64 ddpm128 gan64)
torch_device=cuda

step() { printf '\n== %s\n' "$*" >&2; }
fail() { echo "bench/gpu.sh: $*" >&2; exit 1; }
record() { printf '{"check":"%s","result":"%s"}\n' "$1" "$2" >> "$results"; }

step "plan"
cat >&2 <<EOF
  machine:      $(nproc) cores; GPU: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "none visible (nvidia-smi)")
  build:        ${AUGFLOW_BIN:-cargo build -p augflow -p augflow-stages --profile $profile --bins --benches ${features[*]}}
  classifiers:  Burn ${backends[*]} and PyTorch $torch_device: $classifier_models at ${classifier_sizes} px, batch $classifier_batches, 3 channels
  generators:   Burn ${backends[*]} and PyTorch $torch_device: ${generator_cases[*]} (train step; DDIM-20 / GAN sampling images/s)
  memory:       one classifier trained 20 times in one process (stages/tests/memory_flat.rs on ${backends[0]})
  end to end:   augflow run pipelines/quickstart.yaml --backend ${backends[0]} -j 4 (a copy in a temp folder)
  output:       bench/gpu_results.md
EOF
if [[ "${BURN_CUDA:-}" != 1 ]]; then
    echo "  Burn cuda:    not measured (BURN_CUDA=1 builds it, where Burn's LLVM bundle can be downloaded)" >&2
    record "Burn cuda" "not built: BURN_CUDA=1 needs network at build time (Burn's LLVM bundle)"
fi
if $check; then
    # One tiny step of each harness on the CPU, with the same scripts and arguments.
    backends=(cpu)
    classifier_models=small_cnn
    classifier_sizes=32
    classifier_batches=2
    torch_device=cpu
    echo "  --check:      the same steps on the CPU (small_cnn, 32 px, batch 2, one step),"\
        "generator cases parsed only, the quickstart as --dry-run; table: $out_md" >&2
fi

step "checks"
for script in bench/torch/train_step.py bench/torch/generator_step.py bench/torch/gpu_table.py \
    stages/benches/train_step.rs stages/benches/generator_step.rs stages/tests/memory_flat.rs \
    pipelines/quickstart.yaml; do
    [[ -f "$script" ]] || fail "missing $script"
done
python3 -m py_compile bench/torch/train_step.py bench/torch/generator_step.py bench/torch/gpu_table.py
command -v cargo >/dev/null || [[ -n "${AUGFLOW_BIN:-}" ]] || fail "neither cargo nor AUGFLOW_BIN"
if ! $check; then
    command -v nvidia-smi >/dev/null || echo "warning: no nvidia-smi; the cuda rows will say why they were skipped" >&2
fi

# Python with torch: TORCH_PYTHON, a cached venv, or PyPI (the default Linux wheels of
# torch bundle CUDA). Without one, the PyTorch rows are left out and the table says so.
python="${TORCH_PYTHON:-}"
if [[ -z "$python" ]]; then
    venv="${HOME}/.cache/augflow-bench/torch-gpu-venv"
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import torch' 2>/dev/null; then
        python="$venv/bin/python"
    elif ! $check; then
        step "installing torch and torchvision from PyPI into $venv"
        if python3 -m venv "$venv" && "$venv/bin/pip" install --quiet torch torchvision; then
            python="$venv/bin/python"
        fi
    elif python3 -c 'import torch' 2>/dev/null; then
        python=python3
    fi
fi
if [[ -n "$python" ]]; then
    echo "torch: $("$python" -c 'import torch; print(torch.__version__, "cuda", torch.cuda.is_available())')" >&2
else
    echo "torch: not available$($check && echo " (--check does not install it; the GPU run does, from PyPI)")" >&2
    record "PyTorch" "not measured: no python with torch (set TORCH_PYTHON)"
fi

step "build"
if [[ -n "${AUGFLOW_BIN:-}" ]]; then
    bin="$AUGFLOW_BIN"
else
    # The binary and the bench harnesses in one build (one feature set for Burn).
    cargo build -p augflow -p augflow-stages --profile "$profile" --locked --bins --benches \
        "${features[@]}" >&2
    target="${CARGO_TARGET_DIR:-target}"
    bin="$target/$([[ "$profile" == dev ]] && echo debug || echo "$profile")/augflow"
fi
[[ -x "$bin" ]] || fail "no augflow binary at $bin"
"$bin" --version >&2
# Both packages are named so that features unify as in the workspace build (naming only
# augflow-stages would rebuild Burn with another feature set).
bench() {
    local name=$1
    shift
    cargo bench -p augflow -p augflow-stages --profile "$profile" "${features[@]}" --bench "$name" -- "$@"
}

step "classifier training step (Burn)"
BENCH_MODELS="$classifier_models" BENCH_SIZES="$classifier_sizes" BENCH_BATCHES="$classifier_batches" \
    BENCH_CHANNELS=3 BENCH_STEPS="$($check && echo 1 || echo 10)" \
    bench train_step "${backends[@]}" | tee -a "$results"

if [[ -n "$python" ]]; then
    step "classifier training step (PyTorch $torch_device)"
    "$python" bench/torch/train_step.py --device "$torch_device" --threads "$threads" \
        --models "$classifier_models" --sizes "$classifier_sizes" --batches "$classifier_batches" \
        --channels 3 --steps "$($check && echo 1 || echo 10)" | tee -a "$results"
fi

if $check; then
    step "generators: skipped by --check (the same harnesses as bench/torch/generators.sh)"
    # The case names and backends the GPU run passes must parse: an unknown case makes the
    # harness print nothing, which the next line catches.
    for case in "${generator_cases[@]}"; do
        [[ "$case" =~ ^(ddpm|gan)[0-9]+$ ]] || fail "bad generator case $case"
    done
else
    step "generators (Burn)"
    bench generator_step "${backends[@]}" "${generator_cases[@]}" | tee -a "$results"
    if [[ -n "$python" ]]; then
        step "generators (PyTorch cuda)"
        "$python" bench/torch/generator_step.py --device cuda --threads "$threads" \
            "${generator_cases[@]}" | tee -a "$results"
    fi
fi

step "memory across 20 trainings in one process (${backends[0]})"
if $check; then
    echo "skipped by --check (cargo nextest run -p augflow -p augflow-stages --test memory_flat runs it on the CPU)" >&2
    record "memory, 20 trainings" "not run by --check"
elif AUGFLOW_TEST_BACKEND="${backends[0]}" cargo test -p augflow -p augflow-stages --profile "$profile" "${features[@]}" \
    --test memory_flat -- --nocapture 2> >(tee "$results.memory" >&2); then
    record "memory, 20 trainings (${backends[0]})" "flat: $(grep -m1 'reserved MiB' "$results.memory" | tr -d '"' || echo 'see log')"
else
    record "memory, 20 trainings (${backends[0]})" "FAILED: $(tail -1 "$results.memory" | tr -d '"')"
fi

step "quickstart end to end"
project="$(mktemp -d)"
cp -r pipelines "$project/"
rm -rf "$project/pipelines/.augflow" "$project/pipelines/report"
if $check; then
    # The plan only: what would run, and that the backend flag is understood.
    "$bin" run "$project/pipelines/quickstart.yaml" --dry-run --backend cpu | tail -1 >&2
    record "quickstart" "dry run only (--check)"
else
    started=$(date +%s)
    if "$bin" run "$project/pipelines/quickstart.yaml" --backend "${backends[0]}" -j 4 >&2; then
        record "quickstart on ${backends[0]}, -j 4" "$(( $(date +%s) - started )) s, devices: $("$bin" show gan -p "$project/pipelines/quickstart.yaml" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["entry"]["metadata"].get("device"))' 2>/dev/null || echo '?')"
    else
        record "quickstart on ${backends[0]}, -j 4" "FAILED after $(( $(date +%s) - started )) s"
    fi
fi

step "table"
machine="$(nproc) cores, $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo 'no GPU'), $(date -u +%Y-%m-%d)"
$check && machine="--check on $machine"
python3 bench/torch/gpu_table.py "$results" "$machine" > "$out_md"
cat "$out_md"
