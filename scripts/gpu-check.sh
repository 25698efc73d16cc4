#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU and PyTorch 2.x (+ transformers, peft) but no Qt and
# no network, builds and runs Headroom's CUDA kernels' parity test and benchmark (kernels/, no
# LibTorch needed), builds core + CLI against that torch (with the kernels when they built), then
#   1. logits parity: our forward vs transformers' on the reference fixtures and on a generated
#      Llama-3.2-1B-shaped checkpoint (fp32 and bf16),
#   2. PEFT's trainable-parameter counts for the bundled model configs vs ours,
#   3. a QLoRA training run of the 1B-shaped model (seq 1024, fixed steps): tokens/s and peak memory
#      by category, our estimate beside it,
#   4. the same training (bf16 LoRA) with ours and with transformers + PEFT, for comparison,
#   5. an NCCL process-group smoke test: `train --nproc 1` (and --nproc 2 where two GPUs exist) on
#      the demo (scripts/gpu_check/nccl_smoke.sh),
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

# The CUDA kernels on their own (their own CMake project): parity test, then throughput. A failure
# here is reported and the rest runs without the kernels.
nvcc=${CUDACXX:-$(command -v nvcc || true)}
[ -n "$nvcc" ] || [ ! -x /usr/local/cuda/bin/nvcc ] || nvcc=/usr/local/cuda/bin/nvcc
arch=$($python -c 'import torch; m, n = torch.cuda.get_device_capability(); print(f"{m}{n}")')
kernels_log="$work/kernels.log"
with_kernels=OFF
echo "== CUDA kernels (sm_$arch): build, parity test, benchmark"
{
  if [ -z "$nvcc" ]; then
    echo "kernels: no nvcc found (set CUDACXX)"
  elif ! CUDACXX="$nvcc" cmake -S kernels -B build-kernels -G Ninja -DCMAKE_BUILD_TYPE=Release \
         -DCMAKE_CUDA_ARCHITECTURES="$arch" > "$work/kernels-configure.log" 2>&1; then
    echo "kernels: configure failed"; tail -20 "$work/kernels-configure.log"
  elif ! cmake --build build-kernels -j "$jobs" > "$work/kernels-build.log" 2>&1; then
    echo "kernels: build failed"; grep -E "error" -A3 "$work/kernels-build.log" | head -40
  else
    with_kernels=ON
    build-kernels/bin/kernels_test || echo "kernels_test: exit code $?"
    build-kernels/bin/kernels_bench || echo "kernels_bench: exit code $?"
  fi
} > "$kernels_log" 2>&1
grep -E "^(FAIL|SKIP)|failure|exit code|kernels:|GB/s" "$kernels_log" || true

# c10d's NCCL process group is compiled only where <nccl.h> is found (core/src/distributed/
# process_group.cpp); pip's torch keeps that header in the nvidia-nccl package, outside torch/include.
nccl_include=$($python -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "include"))' 2>/dev/null || true)
[ -f "$nccl_include/nccl.h" ] || nccl_include=
cxx_flags=${nccl_include:+-isystem $nccl_include}
nccl_log="$work/nccl.log"
echo "NCCL header: ${nccl_include:-not found (no nvidia-nccl package)}" > "$nccl_log"

echo "== build core + CLI against $($python -c 'import torch; print(torch.__version__)') (CUDA kernels: $with_kernels)"
build_cli() {
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEADROOM_BUILD_UI=OFF -DHEADROOM_BUILD_TESTS=OFF \
    -DHEADROOM_BUILD_KERNELS="$1" ${nvcc:+-DCMAKE_CUDA_COMPILER=$nvcc} -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DCMAKE_PREFIX_PATH="$torch_prefix;${HEADROOM_DEPS_PREFIX:-/usr}" -DCMAKE_CXX_FLAGS="$cxx_flags" \
    > "$work/configure.log" 2>&1 \
    || { tail -30 "$work/configure.log"; return 1; }
  cmake --build build-gpu -j "$jobs" --target headroom-cli > "$work/build.log" 2>&1 || { grep -E "error" -A3 "$work/build.log" | head -60; return 1; }
}
build_ok=true
build_cli "$with_kernels" || build_ok=false
if [ $build_ok = false ] && [ -n "$cxx_flags" ] && grep -q "distributed/process_group.cpp" "$work/build.log"; then
  cp "$work/build.log" "$work/build-with-nccl.log"
  echo "core + CLI failed to build with NCCL's header (errors in $work/build-with-nccl.log); building without" \
    | tee -a "$nccl_log"
  cxx_flags=
  build_ok=true
  build_cli "$with_kernels" || build_ok=false
fi
if [ $build_ok = false ]; then
  [ "$with_kernels" = ON ] || exit 1
  # The torch-side glue (core/src/cuda) is compiled only here: keep its errors, run the rest without it.
  cp "$work/build.log" "$work/build-with-kernels.log"
  echo "core + CLI failed to build with the CUDA kernels (errors in $work/build-with-kernels.log); building without" \
    | tee -a "$kernels_log"
  with_kernels=OFF
  build_cli OFF || exit 1
fi
echo "core + CLI built with the CUDA kernels: $with_kernels" >> "$kernels_log"
cli=$PWD/build-gpu/bin/headroom-cli
echo "   built in $(( $(date +%s) - start )) s"

echo "== NCCL process group smoke test"
scripts/gpu_check/nccl_smoke.sh "$cli" "$work" >> "$nccl_log" 2>&1 || echo "nccl_smoke.sh: exit code $?" >> "$nccl_log"
grep -E "^(nproc|NCCL|core)" "$nccl_log" || true

$python scripts/gpu_check/gpu_check.py --cli "$cli" --work "$work" --steps "$steps" --report "$report" \
  --source "$PWD" --kernels-log "$kernels_log" --nccl-log "$nccl_log"
echo "== report: $report ($(( $(date +%s) - start )) s in all)"
