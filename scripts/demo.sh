#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on the bundled demo: the studio window
# when a display is present, otherwise the same demo headless through the CLI.
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
prompt=$(head -n 1 "$demo_dir/demo-heldout.jsonl")
question="Is this review positive or negative?

$(printf '%s' "$prompt" | sed -E 's/.*"input":"([^"]*)".*/\1/')"
echo "== generation from the demo model (a held-out review):"
$cli generate "$demo_dir/model" --chat --prompt "$question" --max-new-tokens 8
