#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on the bundled demo: the studio window
# when a display is present, otherwise the same demo headless through the CLI (make the demo,
# answer a held-out review, fine-tune briefly, answer it again).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
demo_dir=${HEADROOM_DEMO_DIR:-$HOME/.local/share/headroom/demo}
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x build/bin/headroom ]; then
  exec build/bin/headroom
fi
cli=build/bin/headroom-cli
echo "== making the demo in $demo_dir"
$cli make-demo "$demo_dir"
$cli inspect "$demo_dir/model"
# The held-out reviews are plain sentences (no quotes or escapes), so sed can take them apart.
line=$(head -n 1 "$demo_dir/demo-heldout.jsonl")
field() { printf '%s' "$line" | sed -E "s/.*\"$1\":\"([^\"]*)\".*/\\1/"; }
prompt="$(field instruction)

$(field input)"
answer=$(field output)
echo
echo "== a review the demo never trains on (the right answer is \"$answer\"); before fine-tuning:"
$cli generate "$demo_dir/model" --chat --prompt "$prompt" --max-new-tokens 4
echo
echo "== fine-tuning (QLoRA: NF4 + double quant, LoRA r 16, checkpointing, bf16, 8-bit AdamW)"
$cli train "$demo_dir/train.json"
echo
echo "== the same review after fine-tuning, base model and adapter side by side:"
$cli generate "$demo_dir/model" --chat --prompt "$prompt" --max-new-tokens 4 \
  --adapter "$demo_dir/runs/demo/adapter" --compare
