#!/usr/bin/env bash
# The estimate-vs-measured sweep of docs/memory.md. Each row of tests/memory_agreement_test.cpp's
# full sweep trains two steps on CPU in a process of its own (the counting allocator measures the
# second) and is compared with estimateMemory(); the rows become a Markdown table, with a column
# for the activations after calibrating each model on its first row (what `estimate --calibrate`
# does). About 15 minutes on two cores.
#
#   scripts/memory_sweep.sh [BUILD_DIR] [TABLE.md]     (defaults: build, memory-sweep.md)
set -euo pipefail
build=${1:-build}
table=${2:-memory-sweep.md}
test="$build/bin/memory_agreement_test"
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
export HEADROOM_MEMORY_SWEEP=full HEADROOM_MEMORY_TABLE="$rows"
"$test" -datatags | sed -n 's/^MemoryAgreementTest agreement //p' | while IFS= read -r tag; do
    "$test" -silent "agreement:$tag" > /dev/null || echo "outside the tolerance: $tag" >&2
done
python3 - "$rows" "$table" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
mib = lambda b: f"{b / 2**20:.2f}"
err = lambda e, m: f"{100 * (e - m) / m:+.1f}%" if m else "n/a"
def pair(e, m):
    return f"{mib(e)} =" if e == m else f"{mib(e)} / {mib(m)} ({err(e, m)})"
ratio, out = {}, []
out.append("| setting | weights | adapters | gradients | optimizer | activations est / measured (err) "
           "| calibrated (err) | other est / measured | total est / measured (err) |")
out.append("|---|---|---|---|---|---|---|---|---|")
stats = {"raw": [], "calibrated": []}
for r in rows:
    e, m = r["estimate"]["bytes"], r["measured"]
    if r["model"] not in ratio:
        ratio[r["model"]] = m["activations"] / e["activations"]
        calibrated = "(calibrates)"
    else:
        c = e["activations"] * ratio[r["model"]]
        calibrated = f"{mib(c)} ({err(c, m['activations'])})"
        stats["raw"].append(abs(e["activations"] - m["activations"]) / m["activations"])
        stats["calibrated"].append(abs(c - m["activations"]) / m["activations"])
    out.append(f"| {r['setting']} | " + " | ".join(pair(e[k], m[k]) for k in ("weights", "adapters", "gradients", "optimizer"))
               + f" | {mib(e['activations'])} / {mib(m['activations'])} ({err(e['activations'], m['activations'])})"
               + f" | {calibrated} | {mib(e['other'])} / {mib(m['other'])}"
               + f" | {mib(e['total'])} / {mib(m['total'])} ({err(e['total'], m['total'])}) |")
for k, v in stats.items():
    if v:
        out.append(f"\n{k} activations, rows after each model's first: mean |error| {100 * sum(v) / len(v):.2f}%, "
                   f"max {100 * max(v):.2f}%")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out[-2:]))
PY
echo "table written to $table"
