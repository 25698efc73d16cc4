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


def sh(cmd, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
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
    from transformers import AutoModelForCausalLM
    random.seed(1)
    ids = [random.randrange(0, 128000) for _ in range(64)]
    rows = []
    for dtype_name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        hf = load_hf(folder, dtype, attn_implementation="eager").cuda()
        with torch.no_grad():
            ref = hf(torch.tensor([ids], device="cuda")).logits[0].float().cpu()
        del hf
        torch.cuda.empty_cache()
        out = os.path.join(work, f"1b-{dtype_name}.safetensors")
        sh([cli, "--device", "cuda", "forward", folder, "--ids", ",".join(map(str, ids)), "--out", out,
            "--dtype", dtype_name])
        ours = read_safetensors(out)["logits"]
        diff = (ours - ref).abs()
        agree = (ours.argmax(-1) == ref.argmax(-1)).float().mean().item()
        rows.append((dtype_name, diff.max().item(), diff.mean().item(), ref.abs().max().item(), agree))
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
        peft = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                                task_type="CAUSAL_LM"))
        theirs = sum(p.numel() for p in peft.parameters() if p.requires_grad)
        ours = None
        try:
            out = json.loads(sh([cli, "--json", "estimate", "--config", os.path.join(configs, name), "--r", "16",
                                 "--targets", "q_proj,k_proj,v_proj,o_proj"]).stdout)
            ours = out["trainable_params"]
        except Exception:  # the estimate command may not exist in this build
            pass
        rows.append((name[:-5], theirs, ours))
    return rows


# ---------------------------------------------------------------- 3./4. training
def make_dataset(work, rows=64, words=1400):
    path = os.path.join(work, "long-text.jsonl")
    random.seed(2)
    vocab = ("the model learns to answer questions about memory gradient checkpoint batch sequence "
             "precision adapter rank quantization optimizer state activation budget device tensor "
             "layer attention token vocabulary weight update step loss curve schedule warmup").split()
    with open(path, "w") as f:
        for _ in range(rows):
            f.write(json.dumps({"text": " ".join(random.choice(vocab) for _ in range(words))}) + "\n")
    return path


def our_training(cli, folder, dataset, work, steps, quantized, batch):
    name = "qlora" if quantized else "lora-bf16"
    out_dir = os.path.join(work, f"run-{name}")
    sh(["rm", "-rf", out_dir])
    config = {
        "model": folder, "device": "cuda",
        "dataset": {"path": dataset, "format": "text", "max_seq_length": 1024, "validation_split": 0},
        "quantization": {"load_in_4bit": quantized, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True},
        "lora": {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "lora_dropout": 0.05},
        "training": {"output_dir": out_dir, "per_device_train_batch_size": batch, "gradient_accumulation_steps": 1,
                     "gradient_checkpointing": True, "bf16": True, "optim": "adamw_torch" if not quantized else "paged_adamw_8bit",
                     "learning_rate": 2e-4, "max_steps": steps, "warmup_ratio": 0, "save_strategy": "no", "logging_steps": 1},
    }
    path = os.path.join(work, f"{name}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    t0 = time.time()
    result = json.loads(sh([cli, "--json", "train", path]).stdout)
    wall = time.time() - t0
    metrics = [json.loads(l) for l in open(os.path.join(out_dir, "metrics.jsonl")) if '"loss"' in l]
    steady = metrics[2:] if len(metrics) > 3 else metrics
    tps = sum(m["tokens"] for m in steady) / sum(m["tokens"] / m["tokens_per_s"] for m in steady)
    estimate = None
    try:
        estimate = json.loads(sh([cli, "--json", "estimate", "--config", path, "--gpu", "h100-80g"]).stdout)
    except Exception:
        pass
    return {"name": name, "result": result, "wall_s": wall, "tokens_per_s": tps, "memory": metrics[-1]["memory"],
            "losses": [m["loss"] for m in metrics], "estimate": estimate}


def hf_training(folder, dataset, steps, batch):
    """transformers + PEFT, bf16 LoRA on q/k/v/o, checkpointing, adamw_torch, same data and shape."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(folder)
    tok.pad_token = tok.pad_token or tok.eos_token  # every text is longer than 1024 tokens: no padding happens
    texts = [json.loads(l)["text"] for l in open(dataset)]
    model = load_hf(folder, torch.bfloat16, attn_implementation="sdpa").cuda()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for step in range(steps):
        batch_texts = texts[(step * batch) % len(texts):][:batch]
        enc = tok(batch_texts, return_tensors="pt", truncation=True, max_length=1024, padding=True).to("cuda")
        torch.cuda.synchronize()
        t0 = time.time()
        out = model(**enc, labels=enc["input_ids"])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.time() - t0)
        losses.append(out.loss.item())
    steady = times[2:] if len(times) > 3 else times
    tokens = batch * 1024
    return {"tokens_per_s": tokens * len(steady) / sum(steady), "peak": torch.cuda.max_memory_allocated(),
            "losses": losses}


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
    ap.add_argument("--kernels-log", help="output of the kernels' parity test and benchmark (gpu-check.sh)")
    ap.add_argument("--nccl-log", help="output of the NCCL process-group smoke test (gpu_check/nccl_smoke.sh)")
    a = ap.parse_args()
    import transformers, peft
    lines = [f"# GPU check — {datetime.date.today()}", "",
             f"Card: {device_info()}. torch {torch.__version__}, transformers {transformers.__version__}, "
             f"peft {peft.__version__}.", ""]

    def section(title, fn):
        lines.extend([f"## {title}", ""])
        t0 = time.time()
        try:
            fn()
        except Exception:
            lines.extend(["FAILED:", "```", traceback.format_exc()[-3000:], "```"])
        lines.extend([f"({time.time() - t0:.0f} s)", ""])
        print("\n".join(lines[-12:]), flush=True)

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
    section("Logits parity on the reference fixtures", parity)

    folder = {}

    def big_parity():
        folder["path"] = make_1b_model(a.source, a.work)
        lines.append("Llama-3.2-1B's config with random weights (transformers' init, stored bf16), 64 random ids, "
                     "our `forward --device cuda` vs transformers (eager attention) on the same GPU:")
        lines.extend(["", "| dtype | max abs diff | mean abs diff | max abs logit | argmax agreement |", "|---|---|---|---|---|"])
        for dt, mx, mean, scale, agree in model_parity(a.cli, folder["path"], a.work):
            lines.append(f"| {dt} | {mx:.3e} | {mean:.3e} | {scale:.2f} | {agree * 100:.1f}% |")
    section("Logits parity on a Llama-3.2-1B-shaped checkpoint", big_parity)

    def counts():
        lines.extend(["PEFT `get_peft_model` (meta device) vs our count, r 16 on q/k/v/o:", "",
                      "| model | PEFT | ours |", "|---|---|---|"])
        for name, theirs, ours in peft_counts(a.cli, a.source):
            lines.append(f"| {name} | {theirs:,} | {ours if ours is None else f'{ours:,}'} |")
    section("Trainable parameter counts", counts)

    def training():
        dataset = make_dataset(a.work)
        runs = [our_training(a.cli, folder["path"], dataset, a.work, a.steps, True, a.batch),
                our_training(a.cli, folder["path"], dataset, a.work, a.steps, False, a.batch)]
        hf = hf_training(folder["path"], dataset, a.steps, a.batch)
        lines.extend([f"{a.steps} steps, micro-batch {a.batch} x 1024 tokens, gradient checkpointing, LoRA r 16 on q/k/v/o, "
                      "bf16 compute. Throughput over steps 3.., peak = the allocator's peak bytes in use.", "",
                      "| run | tokens/s | peak | weights | adapters | gradients | optimizer | activations | reserved |",
                      "|---|---|---|---|---|---|---|---|---|"])
        for r in runs:
            m = r["memory"]
            lines.append(f"| Headroom {r['name']} | {r['tokens_per_s']:.0f} | {gib(m['peak'])} | {gib(m['weights'])} | "
                         f"{gib(m['adapters'])} | {gib(m['gradients'])} | {gib(m['optimizer'])} | {gib(m['activations'])} | "
                         f"{gib(m['reserved'])} |")
        lines.append(f"| transformers + PEFT lora-bf16 (sdpa) | {hf['tokens_per_s']:.0f} | {gib(hf['peak'])} | | | | | | |")
        lines.append("")
        for r in runs:
            est = r["estimate"]
            if est:
                b = est["bytes"]
                lines.append(f"Estimate for Headroom {r['name']}: total {gib(b['total'])} (weights {gib(b['weights'])}, "
                             f"activations {gib(b['activations'])}, other {gib(b['other'])}); measured peak "
                             f"{gib(r['memory']['peak'])}.")
            lines.append(f"Headroom {r['name']} losses: {', '.join(f'{x:.3f}' for x in r['losses'])}")
        lines.append(f"transformers + PEFT losses: {', '.join(f'{x:.3f}' for x in hf['losses'])}")
    section("Training throughput and memory", training)

    with open(a.report, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
