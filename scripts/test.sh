#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest, then counts the test
# functions that skipped (GPU-only checks on a machine without a GPU, and the like) and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
mkdir -p Testing
status=0
ctest --output-on-failure -j "${HEADROOM_TEST_JOBS:-2}" --timeout 900 | tee Testing/ctest-summary.txt || status=$?
# Qt Test prints "SKIP   : Class::function(row) reason" for each skipped function or row.
skips=$(grep -h '^SKIP   :' Testing/Temporary/LastTest.log 2>/dev/null || true)
echo "== test functions skipped: $(printf '%s' "$skips" | grep -c . || true)"
[ -z "$skips" ] || printf '%s\n' "$skips" | sed 's/^SKIP   : /   /'
grep -E '^[0-9]+% tests passed' Testing/ctest-summary.txt || true
exit "$status"
