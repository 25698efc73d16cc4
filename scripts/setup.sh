#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), then configures and builds Headroom in ./build.
# Idempotent: installed packages are not touched again and the build is incremental.
# Usage: scripts/setup.sh            (sourced by scripts/demo.sh and scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build ccache pkg-config
          libtorch-dev libopenblas0-openmp libgloo-dev
          qt6-base-dev libqcustomplot-dev nlohmann-json3-dev libcli11-dev
          libsentencepiece-dev sentencepiece libpcre2-dev libicu-dev
          xvfb xauth imagemagick)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=${HEADROOM_JOBS:-$(nproc)}
echo "== building (Ninja, -j$jobs)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > build-configure.log 2>&1 || { cat build-configure.log; exit 1; }
cmake --build build -j "$jobs"
