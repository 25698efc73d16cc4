"""The Python half of scripts/gpu-check.sh: reference runs with transformers + PEFT and the report.

Each section catches its own failure and reports it, so one broken part never hides the others.
"""
import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import time
import traceback

import torch


def sh(cmd, timeout=120, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def load_hf(folder, dtype, **kw):
    """from_pretrained with `dtype=` (transformers >= 4.56) or `torch_dtype=` (older)."""
    from transformers import AutoModelForCausalLM
    try:
        return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kw)
    except TypeError:
        return AutoModelForCausalLM.from_pretrained(folder, torch_dtype=dtype, **kw)


def read_safetensors(path):
    from safetensors.torch import load_file
    return load_file(path)


def device_info():
    p = torch.cuda.get_device_properties(0)
    return f"{p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability {p.major}.{p.minor}"


# ---------------------------------------------------------------- 1. logits parity
def fixture_parity(cli, source, work):
    """Our fp32 CPU/GPU forward vs transformers on the committed reference fixtures."""
    from transformers import AutoModelForCausalLM
    rows = []
    models = os.path.join(source, "tests/data/models")
    for name in sorted(os.listdir(models)):
        folder = os.path.join(models, name)
        if not os.path.isfile(os.path.join(folder, "config.json")):
            continue
        expected = read_safetensors(os.path.join(folder, "expected.safetensors"))
        ids = expected["input_ids"][0].tolist()
        hf = load_hf(folder, torch.float32, attn_implementation="eager")
        with torch.no_grad():
            ref = hf(torch.tensor([ids])).logits[0].float()
        for device in ("cpu", "cuda"):
            out = os.path.join(work, f"fixture-{name}-{device}.safetensors")
            sh([cli, "--device", device, "forward", folder, "--ids", ",".join(map(str, ids)), "--out", out])
            ours = read_safetensors(out)["logits"]
            rows.append((name, device, (ours - ref).abs().max().item()))
    return rows


def make_1b_model(source, work):
    """Llama-3.2-1B's config with random bf16 weights (transformers' init) and the Llama 3 tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM
    folder = os.path.join(work, "llama-1b-random")
    if os.path.isfile(os.path.join(folder, "model.safetensors")):
        return folder
    with open(os.path.join(source, "resources/model-configs/llama-3.2-1b.json")) as f:
        config = LlamaConfig(**json.load(f))
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        sh(["cp", os.path.join(source, "tests/data/tokenizers/llama3", f), folder])
    del model
    torch.cuda.empty_cache()
    return folder


def model_parity(cli, folder, work):
    """Our forward with each attention vs transformers' with the same one, and transformers' two against each other."""
    random.seed(1)
    ids = [random.randrange(0, 128000) for _ in range(64)]
    rows = []

    def compare(ours, ref):
        diff = (ours - ref).abs()
        agree = (ours.argmax(-1) == ref.argmax(-1)).float().mean().item()
        return diff.max().item(), diff.mean().item(), ref.abs().max().item(), agree

    for dtype_name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        refs = {}
        for attention in ("eager", "sdpa"):
            hf = load_hf(folder, dtype, attn_implementation=attention).cuda()
            with torch.no_grad():
                refs[attention] = hf(torch.tensor([ids], device="cuda")).logits[0].float().cpu()
            del hf
            torch.cuda.empty_cache()
        rows.append((dtype_name, "transformers sdpa", "transformers eager", *compare(refs["sdpa"], refs["eager"])))
        for attention in ("sdpa", "eager"):
            out = os.path.join(work, f"1b-{dtype_name}-{attention}.safetensors")
            sh([cli, "--device", "cuda", "forward", folder, "--ids", ",".join(map(str, ids)), "--out", out,
                "--dtype", dtype_name, "--attn-implementation", attention])
            ours = read_safetensors(out)["logits"]
            rows.append((dtype_name, f"ours {attention}", f"transformers {attention}", *compare(ours, refs[attention])))
    return rows


# ---------------------------------------------------------------- 2. PEFT counts
def peft_counts(cli, source):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM
    rows = []
    configs = os.path.join(source, "resources/model-configs")
    for name in sorted(os.listdir(configs)):
        if not name.endswith(".json"):
            continue
        config = AutoConfig.from_pretrained(os.path.join(configs, name))
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        # Phi-3 fuses q/k/v (Headroom maps the four names onto qkv_proj + o_proj, as PEFT names them);
        # Gemma 3's multimodal checkpoint: the text model only (its vision tower has q/k/v_proj too).
        arch = config.architectures[0]
        targets = ["qkv_proj", "o_proj"] if arch == "Phi3ForCausalLM" else ["q_proj", "k_proj", "v_proj", "o_proj"]
        if arch == "Gemma3ForConditionalGeneration":
            targets = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)"
        peft = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets, task_type="CAUSAL_LM"))
        theirs = sum(p.numel() for p in peft.parameters() if p.requires_grad)
        out = json.loads(sh([cli, "--json", "estimate", "--config", os.path.join(configs, name), "--r", "16",
                             "--targets", "q_proj,k_proj,v_proj,o_proj"]).stdout)
        ours = out["trainable_params"]
        rows.append((name[:-5], theirs, ours))
    return rows


# ---------------------------------------------------------------- 3./4. training
def make_dataset(work, rows=64, words=1400, name="long-text.jsonl"):
    path = os.path.join(work, name)
    random.seed(2)
    vocab = ("the model learns to answer questions about memory gradient checkpoint batch sequence "
             "precision adapter rank quantization optimizer state activation budget device tensor "
             "layer attention token vocabulary weight update step loss curve schedule warmup").split()
    with open(path, "w") as f:
        for _ in range(rows):
            f.write(json.dumps({"text": " ".join(random.choice(vocab) for _ in range(words))}) + "\n")
    return path


LORA_QKVO = {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "lora_dropout": 0.05}
# QLoRA's own recipe (Dettmers et al. 2023): r 64, alpha 16, every linear layer, paged 8-bit AdamW. Its
# down_proj/gate/up adapters (64 x 8192) are above the 1e5-element paging threshold.
LORA_QLORA = {"r": 64, "lora_alpha": 16, "lora_dropout": 0.05,
              "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}


def our_training(cli, folder, dataset, work, steps, batch, name, quantized, lora, optim, checkpointing=True,
                 kernels=True, attention="sdpa", timeout=240, seq=1024):
    out_dir = os.path.join(work, f"run-{name}")
    sh(["rm", "-rf", out_dir])
    config = {
        "model": folder, "device": "cuda", "attn_implementation": attention,
        "dataset": {"path": dataset, "format": "text", "max_seq_length": seq, "validation_split": 0},
        "quantization": {"load_in_4bit": quantized, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True},
        "lora": lora,
        "training": {"output_dir": out_dir, "per_device_train_batch_size": batch, "gradient_accumulation_steps": 1,
                     "gradient_checkpointing": checkpointing, "bf16": True, "optim": optim,
                     "learning_rate": 2e-4, "lr_scheduler_type": "constant", "max_steps": steps, "warmup_ratio": 0,
                     "save_strategy": "no", "logging_steps": 1},
    }
    path = os.path.join(work, f"{name}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    env = dict(os.environ, HEADROOM_CUDA_KERNELS="1" if kernels else "0")
    t0 = time.time()
    done = sh([cli, "--json", "train", path], env=env, timeout=timeout)
    wall = time.time() - t0
    with open(os.path.join(work, f"train-{name}.log"), "w") as f:
        f.write(done.stderr)
    metrics = [json.loads(l) for l in open(os.path.join(out_dir, "metrics.jsonl")) if '"loss"' in l]
    steady = metrics[2:] if len(metrics) > 3 else metrics
    seconds = sum(m["tokens"] / m["tokens_per_s"] for m in steady if m["tokens_per_s"] > 0)
    tps = sum(m["tokens"] for m in steady) / seconds if seconds > 0 else 0.0
    estimate = None
    try:
        estimate = json.loads(sh([cli, "--json", "--device", "cuda", "estimate", "--config", path], timeout=60).stdout)
    except Exception:
        traceback.print_exc()
    notices = [l for l in done.stderr.splitlines() if l.startswith("warning:")]
    return {"name": name, "wall_s": wall, "tokens_per_s": tps, "memory": max((m["memory"] for m in metrics),
            key=lambda m: m["peak"]), "losses": [m["loss"] for m in metrics], "estimate": estimate, "notices": notices}


def hf_lora_step(folder, attention, lora):
    """transformers + PEFT bf16 LoRA as every comparison here runs it: reentrant checkpointing, torch
    AdamW without weight decay (Headroom's default; torch's is 0.01), constant lr 2e-4, clipping at 1.
    Returns step(**inputs) -> the loss of one optimizer step; drop it to free the model."""
    from peft import LoraConfig, get_peft_model
    model = load_hf(folder, torch.bfloat16, attn_implementation=attention).cuda()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.0)

    def step(**inputs):
        loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss
    step.vocab_size = model.config.vocab_size
    return step


def hf_training(folder, dataset, steps, batch, attention):
    """transformers + PEFT, bf16 LoRA on q/k/v/o, checkpointing, AdamW, constant lr, same data and shape."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(folder)
    tok.pad_token = tok.pad_token or tok.eos_token  # every text is longer than 1024 tokens: no padding happens
    texts = [json.loads(l)["text"] for l in open(dataset)]
    step = hf_lora_step(folder, attention, LORA_QKVO)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for i in range(steps):
        batch_texts = texts[(i * batch) % len(texts):][:batch]
        enc = tok(batch_texts, return_tensors="pt", truncation=True, max_length=1024, padding=True).to("cuda")
        torch.cuda.synchronize()
        t0 = time.time()
        loss = step(**enc, labels=enc["input_ids"])
        torch.cuda.synchronize()
        times.append(time.time() - t0)
        losses.append(loss.item())
    steady = times[2:] if len(times) > 3 else times
    tokens = batch * 1024
    result = {"tokens_per_s": tokens * len(steady) / sum(steady), "peak": torch.cuda.max_memory_allocated(),
              "losses": losses}
    del step
    torch.cuda.empty_cache()
    return result


def gib(b):
    return f"{b / 2**30:.2f} GiB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--report", required=True)
    ap.add_argument("--deadline", type=float, default=0,
                    help="epoch seconds by which the report must be written: sections that would start later are skipped")
    ap.add_argument("--kernels-log", help="output of the kernels' parity test and benchmark (gpu-check.sh)")
    ap.add_argument("--nccl-log", help="output of the NCCL process-group smoke test (gpu_check/nccl_smoke.sh)")
    a = ap.parse_args()
    import transformers, peft
    lines = [f"# GPU check — {datetime.date.today()}", "",
             f"Card: {device_info()}. torch {torch.__version__}, transformers {transformers.__version__}, "
             f"peft {peft.__version__}.", ""]

    def write_report():
        with open(a.report, "w") as f:
            f.write("\n".join(lines) + "\n")

    def section(title, fn, needs_s=0):
        """Runs fn, reporting its failure; skipped when fewer than needs_s seconds are left."""
        lines.extend([f"## {title}", ""])
        left = a.deadline - time.time() if a.deadline else float("inf")
        if left < needs_s:
            lines.extend([f"SKIPPED: {left:.0f} s were left of the check's time, this section needs about {needs_s} s.", ""])
        else:
            t0 = time.time()
            try:
                fn()
            except Exception:
                lines.extend(["FAILED:", "```", traceback.format_exc()[-3000:], "```"])
            lines.extend([f"({time.time() - t0:.0f} s)", ""])
        write_report()
        print("\n".join(lines[-14:]), flush=True)

    def log_section(title, intro, path):
        """A section that quotes a log written by gpu-check.sh."""
        def quote():
            lines.append(intro)
            with open(path) as f:
                lines.extend(["", "```", f.read().rstrip(), "```"])
        section(title, quote)

    if a.kernels_log:
        log_section("CUDA kernels",
                    "Headroom's CUDA kernels (kernels/, docs/kernels.md): parity with the plain C++ references of "
                    "tests/kernels_test*.cpp, then kernels_bench (median of 20 runs; GB/s against the card's nominal "
                    "bandwidth where known).", a.kernels_log)
    if a.nccl_log:
        log_section("NCCL process group smoke test",
                    "`headroom-cli --device cuda train <demo> --nproc N --max-steps 4` (docs/distributed.md): the "
                    "`--nproc` launcher, a TCPStore rendezvous and c10d's NCCL process group, 1 rank always and 2 "
                    "ranks where two GPUs exist.", a.nccl_log)

    def parity():
        lines.append("Our `forward` (fp32) against transformers' eager forward (fp32) on the reference fixtures:")
        lines.extend(["", "| fixture | our device | max abs logit diff |", "|---|---|---|"])
        for name, dev, d in fixture_parity(a.cli, a.source, a.work):
            lines.append(f"| {name} | {dev} | {d:.2e} |")
    section("Logits parity on the reference fixtures", parity, 20)

    folder = {}

    def make_model():
        folder["path"] = make_1b_model(a.source, a.work)
        lines.append(f"Llama-3.2-1B's config with random weights (transformers' init, stored bf16) in {folder['path']}.")
    section("A Llama-3.2-1B-shaped checkpoint", make_model, 30)

    runs, hf = [], {}

    def training():
        dataset = make_dataset(a.work)
        args = (a.cli, folder["path"], dataset, a.work, a.steps, a.batch)
        runs.append(("Headroom LoRA bf16, r 16 q/k/v/o, adamw_torch (sdpa attention)",
                     our_training(*args, "lora-bf16", False, LORA_QKVO, "adamw_torch")))
        hf["sdpa"] = hf_training(folder["path"], dataset, a.steps, a.batch, "sdpa")
        hf["eager"] = hf_training(folder["path"], dataset, a.steps, a.batch, "eager")
        runs.append(("Headroom QLoRA (NF4 + double quant, r 64 all linear, paged_adamw_8bit), our kernels",
                     our_training(*args, "qlora", True, LORA_QLORA, "paged_adamw_8bit")))
        runs.append(("the same QLoRA with HEADROOM_CUDA_KERNELS=0 (LibTorch operations)",
                     our_training(*args, "qlora-no-kernels", True, LORA_QLORA, "paged_adamw_8bit", kernels=False)))
        if a.deadline == 0 or a.deadline - time.time() > 60:
            runs.append(("Headroom LoRA bf16 as the first row, eager attention",
                         our_training(*args, "lora-bf16-eager", False, LORA_QKVO, "adamw_torch", attention="eager")))
        if a.deadline == 0 or a.deadline - time.time() > 60:
            runs.append(("Headroom LoRA bf16 as the first row, gradient checkpointing off",
                         our_training(*args, "lora-bf16-no-ckpt", False, LORA_QKVO, "adamw_torch", checkpointing=False)))

    def training_report():
        lines.extend([f"{a.steps} steps, micro-batch {a.batch} x 1024 tokens, bf16 compute, constant learning rate 2e-4, "
                      "gradient checkpointing unless said. Throughput over steps 3.. ; peak = the allocator's peak bytes in "
                      "use; the categories are Headroom's measured breakdown at its highest step; the estimate is "
                      "`headroom-cli estimate` for the same config.", "",
                      "| run | tokens/s | peak | weights | adapters | gradients | optimizer | activations | reserved | estimate (activations) |",
                      "|---|---|---|---|---|---|---|---|---|---|"])
        for title, r in runs:
            m, est = r["memory"], r["estimate"]
            estimate = f"{gib(est['bytes']['total'])} ({gib(est['bytes']['activations'])})" if est else "n/a"
            lines.append(f"| {title} | {r['tokens_per_s']:.0f} | {gib(m['peak'])} | {gib(m['weights'])} | "
                         f"{gib(m['adapters'])} | {gib(m['gradients'])} | {gib(m['optimizer'])} | {gib(m['activations'])} | "
                         f"{gib(m['reserved'])} | {estimate} |")
        for attention, r in hf.items():
            lines.append(f"| transformers + PEFT LoRA bf16, r 16 q/k/v/o ({attention} attention) | {r['tokens_per_s']:.0f} | "
                         f"{gib(r['peak'])} | | | | | | | |")
        lines.append("")
        for title, r in runs:
            lines.append(f"- {title}: losses {', '.join(f'{x:.3f}' for x in r['losses'])}")
            for notice in r["notices"]:
                lines.append(f"  - notice: `{notice.strip()}`")
        for attention, r in hf.items():
            lines.append(f"- transformers + PEFT ({attention}): losses {', '.join(f'{x:.3f}' for x in r['losses'])}")

    def training_section():
        try:
            training()
        finally:
            if runs or hf:
                training_report()
    section("Training throughput and memory", training_section, 150)

    def estimate_points():
        """Measured activations against the estimate over attention, checkpointing and shape (3 steps each)."""
        dataset = make_dataset(a.work, rows=32, words=3000, name="longer-text.jsonl")
        lines.extend(["bf16 LoRA r 16 on q/k/v/o as in the training section, 3 steps each (tokens/s over all three, the "
                      "first included: indicative only); activations = the allocator's "
                      "peak less weights, adapters, gradients and optimizer states (Headroom's measured breakdown):", "",
                      "| attention | checkpointing | micro-batch x tokens | tokens/s | peak | activations | estimate | difference |",
                      "|---|---|---|---|---|---|---|---|"])
        for attention, checkpointing, batch, seq in [("sdpa", True, 1, 2048), ("sdpa", True, 8, 512),
                                                     ("sdpa", False, 2, 1024), ("sdpa", False, 1, 2048),
                                                     ("sdpa", False, 2, 2048), ("eager", False, 1, 2048)]:
            if a.deadline and a.deadline - time.time() < 30:
                lines.append(f"| {attention} | {'on' if checkpointing else 'off'} | {batch} x {seq} | skipped: the check's time is up | | | | |")
                continue
            name = f"point-{attention}-{'ckpt' if checkpointing else 'full'}-{batch}x{seq}"
            try:
                r = our_training(a.cli, folder["path"], dataset, a.work, 3, batch, name, False, LORA_QKVO, "adamw_torch",
                                 checkpointing=checkpointing, attention=attention, timeout=60, seq=seq)
            except Exception as e:  # one failed point leaves the others' rows
                lines.append(f"| {attention} | {'on' if checkpointing else 'off'} | {batch} x {seq} | FAILED: "
                             f"{str(e)[-200:].replace('|', '/')} | | | | |")
                continue
            measured, m = r["memory"]["activations"], r["memory"]
            estimated = r["estimate"]["bytes"]["activations"] if r["estimate"] else 0
            difference = f"{(estimated - measured) / measured * 100:+.1f}%" if estimated and measured else "n/a"
            lines.append(f"| {attention} | {'on' if checkpointing else 'off'} | {batch} x {seq} | {r['tokens_per_s']:.0f} | "
                         f"{gib(m['peak'])} | {gib(measured)} | {gib(estimated)} | {difference} |")
    section("Estimated against measured activations", estimate_points, 75)

    def profiles():
        """Kernel time by kind for one bf16 LoRA step, ours against transformers + PEFT's (kernel_profile.py)."""
        import kernel_profile
        batch, seq, warmup, steps = a.batch, 1024, 2, 3
        mine, bench_output = kernel_profile.ours(a.cli, folder["path"], a.work, batch, seq, warmup, steps)
        step = hf_lora_step(folder["path"], "sdpa", dict(LORA_QKVO, lora_dropout=0.0))
        theirs = kernel_profile.transformers_peft(step, a.work, batch, seq, warmup, steps)
        del step  # the model, before our runs of the next sections
        torch.cuda.empty_cache()
        lines.append(f"bf16 LoRA r 16 on q/k/v/o, micro-batch {batch} x {seq} random tokens, sdpa attention, gradient "
                     f"checkpointing, AdamW, no dropout; {steps} steps after {warmup} warm-up steps, profiled on both "
                     "sides by torch's Kineto profiler (ours through `headroom-cli bench --profile`). Busy = the "
                     "kernels' summed time; the rest of the wall time the GPU waited on the host.")
        kernel_profile.report(lines, theirs, mine, batch, seq)
        lines.extend(["", "`bench --profile` printed:", "", "```", *bench_output.strip().splitlines()[-12:], "```"])
    section("Kernel profile: Headroom against transformers + PEFT", profiles, 60)

    def big_parity():
        lines.append("64 random ids, our `forward --device cuda` against transformers' forward with the same attention "
                     "on the same GPU, and transformers' sdpa against its eager attention for scale:")
        lines.extend(["", "| dtype | logits | against | max abs diff | mean abs diff | max abs logit | argmax agreement |",
                      "|---|---|---|---|---|---|---|"])
        for dt, ours, ref, mx, mean, scale, agree in model_parity(a.cli, folder["path"], a.work):
            lines.append(f"| {dt} | {ours} | {ref} | {mx:.3e} | {mean:.3e} | {scale:.2f} | {agree * 100:.1f}% |")
    section("Logits parity on the Llama-3.2-1B-shaped checkpoint", big_parity, 40)

    def counts():
        lines.extend(["PEFT `get_peft_model` (meta device) vs our count, r 16 on q/k/v/o:", "",
                      "| model | PEFT | ours | |", "|---|---|---|---|"])
        for name, theirs, ours in peft_counts(a.cli, a.source):
            lines.append(f"| {name} | {theirs:,} | {ours:,} | {'same' if ours == theirs else 'DIFFERENT'} |")
    section("Trainable parameter counts", counts, 15)

    def memory_budget():
        """find-batch, an out-of-memory step and bench on CUDA, at budgets of real size (docs/memory.md)."""
        config = os.path.join(a.work, "lora-bf16.json")  # written by the training section
        runs = [("find-batch --budget 8GiB", [a.cli, "find-batch", config, "--budget", "8GiB", "--max", "16",
                                               "--steps", "1"]),
                ("train --budget 3.5GiB, micro-batch 8, on_oom adapt", [a.cli, "train", config, "--budget", "3.5GiB",
                 "--max-steps", "3", "--set", "training.per_device_train_batch_size=8",
                 "--set", "training.on_oom=adapt", "--set", f"training.output_dir={a.work}/run-oom"]),
                ("bench, checkpointing on and off (micro-batch 4 x 1024, bf16 LoRA, AdamW)",
                 [a.cli, "--device", "cuda", "bench", "--model", json.load(open(config))["model"], "--quant", "none",
                  "--precision", "bf16", "--batch", "4", "--seq", "1024", "--optim", "adamw_torch", "--steps", "3",
                  "--checkpointing", "on,off", "--lora-dropout", "0"])]
        lines.append("The bf16 LoRA config of the training section under a memory budget (the caching allocator "
                     "capped with setMemoryFraction):")
        for title, cmd in runs:
            t0 = time.time()
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=75)
                code, output = done.returncode, done.stdout + done.stderr
            except subprocess.TimeoutExpired as e:
                code = "none (killed after 75 s)"
                output = "".join(x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
                                 for x in (e.stdout, e.stderr))
            shown = [l for l in output.splitlines() if not l.startswith("step ")]
            lines.extend(["", f"`{title}`: exit code {code} in {time.time() - t0:.0f} s", "", "```",
                          *shown[-16:], "```"])
    section("Memory budget on CUDA", memory_budget, 120)

    write_report()


if __name__ == "__main__":
    main()
