#!/usr/bin/env bash
# NCCL process-group smoke test (part of scripts/gpu-check.sh; docs/distributed.md): the demo for a
# few steps through `train --nproc N --device cuda`, i.e. the launcher, a TCPStore rendezvous and
# c10d's NCCL process group (all-reduces of gradients and totals every step). N = 1 always (a
# 1-rank group, WORLD_SIZE=1), N = 2 where two GPUs exist. Prints one result line per N, SKIPPED
# when the build has no NCCL process group. Usage: nccl_smoke.sh CLI WORK_DIR
set -uo pipefail
cli=$1
work=$2
python=${PYTHON:-python3}
gpus=$($python -c 'import torch; print(torch.cuda.device_count())')
demo="$work/nccl-demo"
rm -rf "$demo"
"$cli" make-demo "$demo" > /dev/null || { echo "FAILED: make-demo $demo"; exit 0; }
for n in 1 2; do
  if [ "$n" -gt "$gpus" ]; then
    echo "nproc $n: skipped (this machine has $gpus GPU)"
    continue
  fi
  out="$work/nccl-run-$n"
  rm -rf "$out" "$out.log"
  start=$(date +%s)
  timeout 300 "$cli" --device cuda train "$demo/train.json" --nproc "$n" --max-steps 4 \
    --set training.output_dir="$out" --set training.per_device_train_batch_size=4 \
    --set training.logging_steps=1 --set training.save_strategy=no --set training.ddp_timeout=60 > "$out.log" 2>&1
  rc=$?
  seconds=$(( $(date +%s) - start ))
  if grep -q "this build has no multi-process training" "$out.log"; then
    echo "nproc $n: SKIPPED, this build has no NCCL process group: $(grep -m1 '^error:' "$out.log")"
    break
  fi
  group=$(grep -m1 "^data parallel:" "$out.log")
  if [ "$rc" -eq 0 ] && [[ "$group" == *"nccl process group"* ]] && [ -f "$out/metrics.jsonl" ]; then
    losses=$($python -c 'import json, sys; rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print(", ".join("%.4f" % r["loss"] for r in rows if "loss" in r))' "$out/metrics.jsonl")
    echo "nproc $n: PASS in $seconds s ($group); losses $losses"
  else
    echo "nproc $n: FAILED (exit code $rc after $seconds s; ${group:-no process group line}); end of $out.log:"
    tail -15 "$out.log"
  fi
done
