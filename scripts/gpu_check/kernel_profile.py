"""Where a bf16 LoRA training step spends GPU time: ours (`headroom-cli bench --profile`, LibTorch's
Kineto profiler) against transformers + PEFT (torch.profiler), kernels grouped by what they do."""
import collections
import json
import os
import re
import subprocess
import time

# First match wins. Kernel names as cuBLAS, CUTLASS and PyTorch on CUDA 12/13 give them.
CATEGORIES = [
    ("attention (flash / memory-efficient)", re.compile(r"flash|fmha|attention|mha_", re.I)),
    ("matrix multiplies (cuBLAS / CUTLASS)", re.compile(r"gemm|cutlass|xmma|nvjet|cublas|sm\d\d_", re.I)),
    ("softmax and cross-entropy", re.compile(r"softmax|nll_loss|cross_entropy|logsumexp", re.I)),
    ("memory copies and fills", re.compile(r"^memcpy|^memset|copy_kernel|fill_kernel|cat_", re.I)),
    ("reductions (norms, sums)", re.compile(r"reduce", re.I)),
    ("optimizer (multi-tensor)", re.compile(r"multi_tensor|foreach|adam", re.I)),
    ("element-wise", re.compile(r"elementwise|vectorized|unrolled|pointwise", re.I)),
]
OTHER = "other"


def category(name):
    return next((title for title, pattern in CATEGORIES if pattern.search(name)), OTHER)


def summarize(kernels, steps, wall_s):
    """kernels: {name: (calls, total_us)} over `steps` steps -> per-step figures by category."""
    by_category = collections.defaultdict(lambda: [0, 0.0])
    for name, (calls, total_us) in kernels.items():
        entry = by_category[category(name)]
        entry[0] += calls
        entry[1] += total_us
    busy_us = sum(us for _, us in kernels.values())
    return {"wall_ms": wall_s * 1e3 / steps, "busy_ms": busy_us / 1e3 / steps,
            "launches": sum(c for c, _ in kernels.values()) / steps,
            "categories": {k: (c / steps, us / 1e3 / steps) for k, (c, us) in by_category.items()},
            "top": sorted(((us / 1e3 / steps, c / steps, n) for n, (c, us) in kernels.items()), reverse=True)[:8]}


def ours(cli, model, work, batch, seq, warmup, steps):
    path = os.path.join(work, "profile-ours.json")
    cmd = [cli, "--device", "cuda", "bench", "--model", model, "--quant", "none", "--precision", "bf16",
           "--batch", str(batch), "--seq", str(seq), "--optim", "adamw_torch", "--checkpointing", "on",
           "--r", "16", "--lora-alpha", "32", "--lora-dropout", "0", "--targets", "q_proj,k_proj,v_proj,o_proj",
           "--warmup", str(warmup), "--steps", str(steps), "--profile", path]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"bench --profile exited {done.returncode}: {done.stderr[-2000:]}")
    profile = json.load(open(path))
    kernels = {k["name"]: (k["calls"], k["total_us"]) for k in profile["kernels"]}
    if not kernels:
        raise RuntimeError("bench --profile recorded no CUDA kernels (this LibTorch's profiler has no CUPTI)")
    return summarize(kernels, profile["steps"], profile["wall_s"]), done.stdout + done.stderr


def transformers_peft(step, work, batch, seq, warmup, steps):
    """The same step through transformers + PEFT (gpu_check.hf_lora_step: sdpa, reentrant
    checkpointing, torch AdamW; here without dropout) on random tokens, profiled by torch.profiler."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    generator = torch.Generator().manual_seed(0)

    def one_step():
        ids = torch.randint(0, step.vocab_size, (batch, seq), generator=generator).cuda()
        step(input_ids=ids, labels=ids)

    for _ in range(warmup):
        one_step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t0 = time.time()
        for _ in range(steps):
            one_step()
        torch.cuda.synchronize()
        wall = time.time() - t0
    trace = os.path.join(work, "profile-transformers.trace.json")
    prof.export_chrome_trace(trace)
    kernels = {}
    for e in json.load(open(trace))["traceEvents"]:
        if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"):
            calls, us = kernels.get(e["name"], (0, 0.0))
            kernels[e["name"]] = (calls + 1, us + float(e["dur"]))
    return summarize(kernels, steps, wall)


def report(lines, theirs, mine, batch, seq):
    tokens = batch * seq
    lines.extend(["", "| | Headroom | transformers + PEFT |", "|---|---|---|",
                  f"| wall time per step | {mine['wall_ms']:.1f} ms ({tokens / mine['wall_ms'] * 1e3:.0f} tokens/s) | "
                  f"{theirs['wall_ms']:.1f} ms ({tokens / theirs['wall_ms'] * 1e3:.0f} tokens/s) |",
                  f"| GPU kernels busy per step | {mine['busy_ms']:.1f} ms ({mine['busy_ms'] / mine['wall_ms'] * 100:.0f}%) | "
                  f"{theirs['busy_ms']:.1f} ms ({theirs['busy_ms'] / theirs['wall_ms'] * 100:.0f}%) |",
                  f"| kernels launched per step | {mine['launches']:.0f} | {theirs['launches']:.0f} |"])
    for title in [t for t, _ in CATEGORIES] + [OTHER]:
        m = mine["categories"].get(title, (0, 0.0))
        t = theirs["categories"].get(title, (0, 0.0))
        if m[1] or t[1]:
            lines.append(f"| {title} | {m[1]:.1f} ms ({m[0]:.0f} kernels) | {t[1]:.1f} ms ({t[0]:.0f} kernels) |")
    for who, summary in (("Headroom", mine), ("transformers + PEFT", theirs)):
        lines.extend(["", f"{who}'s longest kernels (ms per step, launches per step):", "", "```"])
        lines.extend(f"{ms:8.2f} ms {calls:6.0f}  {name[:150]}" for ms, calls, name in summary["top"])
        lines.append("```")
