#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU and PyTorch 2.x (+ transformers, peft) but no Qt and
# no network, builds and runs Headroom's CUDA kernels' parity test and benchmark (kernels/, no
# LibTorch needed), builds core + CLI against that torch (with the kernels and NCCL), then
#   1. an NCCL process-group smoke test: `train --nproc 1` (and --nproc 2 where two GPUs exist) on
#      the demo (scripts/gpu_check/nccl_smoke.sh),
#   2. logits parity: our forward vs transformers' on the reference fixtures,
#   3. training of a generated Llama-3.2-1B-shaped model (seq 1024, fixed steps): bf16 LoRA with ours
#      (sdpa and eager attention) and with transformers + PEFT (the same two), QLoRA with and without
#      our kernels, tokens/s and peak memory by category, our estimate beside each,
#   4. measured activations against the estimate over attention, checkpointing and shape,
#   5. logits parity on that model (fp32 and bf16; ours with sdpa and eager attention against
#      transformers' with the same), 6. PEFT's trainable-parameter counts vs ours,
#   7. a kernel profile of one bf16 LoRA step, ours against transformers + PEFT's (gpu_check/kernel_profile.py),
#   8. find-batch, an adapting out-of-memory run and bench on CUDA under budgets of real size,
# and writes a Markdown report, section by section (a late section is skipped rather than the whole
# report lost). Usage: scripts/gpu-check.sh [REPORT.md] (default gpu-check-report.md); logs are left
# in HEADROOM_GPU_WORK (default /tmp/headroom-gpu-check). HEADROOM_GPU_SECONDS (default 480) is
# the time by which the report must be written: a Python section that would end later is skipped
# (the builds, the kernels' test and the NCCL smoke test have timeouts of their own); the training
# runs take HEADROOM_GPU_STEPS (default 12) steps each. Header-only dependencies (nlohmann/json, CLI11) are taken from
# HEADROOM_DEPS_PREFIX/include when their packages are not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
report=$(realpath -m "${1:-gpu-check-report.md}")
work=${HEADROOM_GPU_WORK:-/tmp/headroom-gpu-check}
steps=${HEADROOM_GPU_STEPS:-12}
start=$(date +%s)
deadline=$(( start + ${HEADROOM_GPU_SECONDS:-480} ))
mkdir -p "$work"
python=${PYTHON:-python3}
torch_prefix=$($python -c 'import torch; print(torch.utils.cmake_prefix_path)')
jobs=$(nproc)

# Only the headers this machine lacks are taken from HEADROOM_DEPS_PREFIX: a second copy of
# nlohmann/json beside one the system has would give some libraries another ABI than the rest.
deps=
if [ -n "${HEADROOM_DEPS_PREFIX:-}" ]; then
  deps=$work/deps
  rm -rf "$deps" && mkdir -p "$deps/include" "$deps/lib"
  for header in nlohmann CLI pcre2.h; do
    [ -e "/usr/include/$header" ] || [ -e "/usr/local/include/$header" ] || [ ! -e "$HEADROOM_DEPS_PREFIX/include/$header" ] \
      || ln -s "$HEADROOM_DEPS_PREFIX/include/$header" "$deps/include/$header"
  done
  if [ -e "$deps/include/pcre2.h" ]; then
    for library in "$HEADROOM_DEPS_PREFIX"/lib/libpcre2-8.so*; do
      [ ! -e "$library" ] || ln -s "$library" "$deps/lib/"
    done
  fi
  echo "from HEADROOM_DEPS_PREFIX: $(ls "$deps/include" | tr '\n' ' ')"
fi

nvcc=${CUDACXX:-$(command -v nvcc || true)}
[ -n "$nvcc" ] || [ ! -x /usr/local/cuda/bin/nvcc ] || nvcc=/usr/local/cuda/bin/nvcc
arch=$($python -c 'import torch; m, n = torch.cuda.get_device_capability(); print(f"{m}{n}")')
# LibTorch's CMake config adds code for every architecture in this list (else it guesses).
export TORCH_CUDA_ARCH_LIST="${arch:0:-1}.${arch: -1}"

# The CUDA kernels on their own (their own CMake project, with the test and benchmark), built while
# core builds below (which compiles the kernels' library again, for itself: two builds at once take
# less time than one after the other); the test and benchmark run once both builds are done.
kernels_log="$work/kernels.log"
echo "== CUDA kernels (sm_$arch): build, parity test, benchmark" | tee "$kernels_log"
(
  if [ -z "$nvcc" ]; then
    echo "kernels: no nvcc found (set CUDACXX)"
  elif ! CUDACXX="$nvcc" cmake -S kernels -B build-kernels -G Ninja -DCMAKE_BUILD_TYPE=Release \
         -DCMAKE_CUDA_ARCHITECTURES="$arch" > "$work/kernels-configure.log" 2>&1; then
    echo "kernels: configure failed"; tail -20 "$work/kernels-configure.log"
  elif ! cmake --build build-kernels -j 4 > "$work/kernels-build.log" 2>&1; then
    echo "kernels: build failed"; grep -E "error" -A3 "$work/kernels-build.log" | head -40
  else
    echo "kernels: built"
  fi
) >> "$kernels_log" 2>&1 &
kernels_build=$!

# c10d's NCCL process group needs <nccl.h> and libnccl, which pip's torch keeps in the nvidia-nccl
# package, outside torch/include (core/CMakeLists.txt).
nccl_find() {  # the first file named $1 under the nvidia packages' folders (their layout varies by CUDA version)
  $python -c 'import glob, os, sys, nvidia
hits = [h for root in nvidia.__path__ for h in sorted(glob.glob(os.path.join(root, "**", sys.argv[1]), recursive=True))]
print(hits[0] if hits else "")' "$1" 2>/dev/null || true
}
nccl_header=$(nccl_find nccl.h)
nccl_include=${nccl_header:+$(dirname "$nccl_header")}
nccl_library=$(nccl_find "libnccl.so*")
nccl_log="$work/nccl.log"
echo "NCCL: header ${nccl_include:-not found (no nvidia-nccl package)}, library ${nccl_library:-not found}" > "$nccl_log"
with_nccl=ON
with_kernels=ON
[ -n "$nvcc" ] || with_kernels=OFF
with_sdpa=ON
with_profiler=ON

echo "== build core + CLI against torch $($python -c 'import torch; print(torch.__version__)')"
# Returns 2 when CMake's configure step fails, 1 when the build does.
build_cli() {
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEADROOM_BUILD_UI=OFF -DHEADROOM_BUILD_TESTS=OFF \
    -DHEADROOM_BUILD_KERNELS="$with_kernels" ${nvcc:+-DCMAKE_CUDA_COMPILER=$nvcc} -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DHEADROOM_NCCL_PROCESS_GROUP="$with_nccl" ${nccl_include:+-DHEADROOM_NCCL_INCLUDE=$nccl_include} \
    -DHEADROOM_TORCH_SDPA="$with_sdpa" -DHEADROOM_TORCH_PROFILER="$with_profiler" \
    ${nccl_library:+-DHEADROOM_NCCL_LIBRARY=$nccl_library} \
    -DCMAKE_PREFIX_PATH="$torch_prefix${deps:+;$deps}" > "$work/configure.log" 2>&1 || return 2
  grep -E "Headroom:|CUDA" "$work/configure.log" | head -10 > "$work/configure-summary.log" || true
  # -k 0: every failing file at once, so one retry can leave out all that failed.
  cmake --build build-gpu -j "$jobs" --target headroom-cli -- -k 0 > "$work/build.log" 2>&1 || return 1
}
give_up() {
  echo "$1"
  wait $kernels_build || true
  cat "$kernels_log"
  exit 1
}
status=0
build_cli || status=$?
if [ $status = 2 ] && [ "$with_kernels" = ON ]; then
  tail -30 "$work/configure.log"
  echo "CMake failed with the CUDA kernels; configuring without" | tee -a "$kernels_log"
  with_kernels=OFF
  status=0
  build_cli || status=$?
fi
[ $status != 2 ] || { tail -30 "$work/configure.log"; give_up "CMake failed"; }
if [ $status = 1 ]; then
  cp "$work/build.log" "$work/build-first.log"
  failed=$(grep -E "^FAILED: " "$work/build.log" || true)
  nccl_files="distributed/process_group.cpp"
  kernel_files="kernels"  # kernels/... and core/src/cuda/cuda_kernels.cpp
  retry=false
  # Only the link failed: most likely libnccl (the one library this build names beside LibTorch's).
  if [ "$with_nccl" = ON ] && ! grep -q -v "bin/headroom-cli" <<< "$failed"; then
    echo "core + CLI failed to link (errors in $work/build-first.log); building without NCCL" | tee -a "$nccl_log"
    with_nccl=OFF; retry=true
  fi
  if [ "$with_nccl" = ON ] && grep -q "$nccl_files" <<< "$failed"; then
    echo "core + CLI failed to build with NCCL (errors in $work/build-first.log); building without" | tee -a "$nccl_log"
    with_nccl=OFF; retry=true
  fi
  if [ "$with_kernels" = ON ] && grep -q "$kernel_files" <<< "$failed"; then
    echo "core + CLI failed to build with the CUDA kernels (errors in $work/build-first.log); building without" \
      | tee -a "$kernels_log"
    with_kernels=OFF; retry=true
  fi
  sdpa_file="model/fused_attention.cpp"  # torch's scaled_dot_product_attention, compiled nowhere before
  if grep -q "$sdpa_file" <<< "$failed"; then
    echo "core + CLI failed to build with torch's scaled_dot_product_attention (errors in $work/build-first.log); building without (chunked fused attention on CUDA too)"
    with_sdpa=OFF; retry=true
  fi
  profiler_file="train/step_profile.cpp"  # LibTorch's Kineto profiler, from torch/csrc (no stable API)
  if grep -q "$profiler_file" <<< "$failed"; then
    echo "core + CLI failed to build with LibTorch's profiler (errors in $work/build-first.log); building without (no kernel profile)"
    with_profiler=OFF; retry=true
  fi
  others=$(grep -v -e "$nccl_files" -e "$kernel_files" -e "$sdpa_file" -e "$profiler_file" -e "bin/headroom-cli" <<< "$failed" || true)
  grep -E "error|FAILED" -A3 "$work/build-first.log" | head -80
  { [ $retry = true ] && [ -z "$others" ]; } || give_up "core + CLI failed to build"
  status=0
  build_cli || status=$?
  [ $status != 2 ] || { tail -30 "$work/configure.log"; give_up "CMake failed"; }
  [ $status = 0 ] || { grep -E "error|FAILED" -A3 "$work/build.log" | head -80; give_up "core + CLI failed to build"; }
fi
cat "$work/configure-summary.log"
echo "core + CLI built with the CUDA kernels: $with_kernels, NCCL: $with_nccl, torch SDPA: $with_sdpa, profiler: $with_profiler" | tee -a "$kernels_log" "$nccl_log"
cli=$PWD/build-gpu/bin/headroom-cli
echo "   built in $(( $(date +%s) - start )) s"

wait $kernels_build || true
if grep -q "^kernels: built" "$kernels_log"; then
  { timeout 120 build-kernels/bin/kernels_test || echo "kernels_test: exit code $?"
    timeout 120 build-kernels/bin/kernels_bench || echo "kernels_bench: exit code $?"; } >> "$kernels_log" 2>&1
fi
grep -E "^(FAIL|SKIP)|failure|exit code|kernels:|GB/s|passed" "$kernels_log" || true

echo "== NCCL process group smoke test"
scripts/gpu_check/nccl_smoke.sh "$cli" "$work" >> "$nccl_log" 2>&1 || echo "nccl_smoke.sh: exit code $?" >> "$nccl_log"
grep -E "^(nproc|NCCL|core)" "$nccl_log" || true

$python scripts/gpu_check/gpu_check.py --cli "$cli" --work "$work" --steps "$steps" --report "$report" \
  --source "$PWD" --kernels-log "$kernels_log" --nccl-log "$nccl_log" --deadline "$deadline"
echo "== report: $report ($(( $(date +%s) - start )) s in all)"
