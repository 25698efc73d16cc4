#!/usr/bin/env bash
# Screenshots of every studio page, taken from the built app under Xvfb (docs/screenshots/studio-*.png).
# The studio runs as a user would start it; keys and clicks go in through XTEST
# (studio_send_input.py), and ImageMagick's `import` grabs the whole screen.
#   tests/studio_screenshots.sh BUILD_DIR [OUT_DIR]
# Needs xvfb-run and imagemagick. Uses a scratch HOME (no settings, demo made afresh).
set -euo pipefail
build=$(realpath "${1:?usage: studio_screenshots.sh BUILD_DIR [OUT_DIR]}")
out=$(realpath -m "${2:-$(dirname "$0")/../docs/screenshots}")
here=$(realpath "$(dirname "$0")")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$out"

xvfb-run -a -s "-screen 0 1280x800x24" bash -s "$build" "$out" "$here" "$scratch" <<'INNER'
set -euo pipefail
build=$1 out=$2 here=$3 scratch=$4
export HOME=$scratch XDG_CONFIG_HOME=$scratch/config HEADROOM_DEMO_DIR=$scratch/demo QT_QPA_PLATFORM=xcb
input() { python3 "$here/studio_send_input.py" "$@"; }
# The window opens at 1200 x 780 in the top-left corner (no window manager): crop to it.
shot() { sleep "$2"; import -window root -crop 1200x780+0+0 +repage "$out/studio-$1.png"; echo "studio-$1.png"; }
(cd "$scratch" && "$build/bin/headroom") &
app=$!
shot model 15                       # the demo is created on first start
input click 30 71                   # the Model tab: gives the window the keyboard focus
input key alt+2; shot data 8
input key alt+3; shot configure 2
input key alt+4; input key ctrl+r; shot train 25
input click 220 103; sleep 5       # Stop: the lab's sweep waits while a training runs
input key alt+5; input key ctrl+r; shot lab 40
input key alt+6
input click 500 280                 # the playground's prompt
input type "is this review positive or negative? the food was wonderful."
input key ctrl+return; shot export 20   # base vs. base + adapter
kill "$app"
wait "$app" || true
INNER
