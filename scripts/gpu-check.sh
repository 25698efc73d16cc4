#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU and PyTorch 2.x (+ transformers, peft) but no Qt and
# no network, builds core + CLI against that torch, then
#   1. logits parity: our forward vs transformers' on the reference fixtures and on a generated
#      Llama-3.2-1B-shaped checkpoint (fp32 and bf16),
#   2. PEFT's trainable-parameter counts for the bundled model configs vs ours,
#   3. a QLoRA training run of the 1B-shaped model (seq 1024, fixed steps): tokens/s and peak memory
#      by category, our estimate beside it,
#   4. the same training (bf16 LoRA) with ours and with transformers + PEFT, for comparison,
# and writes a Markdown report. Usage: scripts/gpu-check.sh [REPORT.md] (default gpu-check-report.md).
# Header-only dependencies (nlohmann/json, CLI11) are taken from HEADROOM_DEPS_PREFIX/include when
# their packages are not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
report=$(realpath -m "${1:-gpu-check-report.md}")
work=${HEADROOM_GPU_WORK:-/tmp/headroom-gpu-check}
steps=${HEADROOM_GPU_STEPS:-12}
mkdir -p "$work"
python=${PYTHON:-python3}
torch_prefix=$($python -c 'import torch; print(torch.utils.cmake_prefix_path)')
jobs=$(nproc)
start=$(date +%s)

echo "== build core + CLI against $($python -c 'import torch; print(torch.__version__)')"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEADROOM_BUILD_UI=OFF -DHEADROOM_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$torch_prefix;${HEADROOM_DEPS_PREFIX:-/usr}" > "$work/configure.log" 2>&1 \
  || { tail -30 "$work/configure.log"; exit 1; }
cmake --build build-gpu -j "$jobs" --target headroom-cli > "$work/build.log" 2>&1 || { grep -E "error" -A3 "$work/build.log" | head -60; exit 1; }
cli=$PWD/build-gpu/bin/headroom-cli
echo "   built in $(( $(date +%s) - start )) s"

$python scripts/gpu_check/gpu_check.py --cli "$cli" --work "$work" --steps "$steps" --report "$report" \
  --source "$PWD"
echo "== report: $report ($(( $(date +%s) - start )) s in all)"
