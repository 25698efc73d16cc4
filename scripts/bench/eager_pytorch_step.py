"""The training step of `headroom-cli bench`, written in eager PyTorch from Python, as the baseline
for issue "Trainer" (same LibTorch: Debian's python3-torch 1.13 and libtorch-dev 1.13).

Loads the same HF folder (random weights from `headroom-cli make-model`), adds LoRA on every linear
layer of the decoder blocks (PEFT's init and formula), and times forward + backward + AdamW on
random token ids of a fixed length, with the base in bf16 and bf16 autocast, like our bf16 runs.
Prints one JSON line: tokens/s, step seconds, peak RSS.

Run it with the allocator tunables that keep freed blocks (docs/performance.md):
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184 \
  /usr/bin/python3 scripts/bench/eager_pytorch_step.py MODEL_DIR --batch 4 --seq 512 --threads 2
"""
import argparse
import json
import math
import os
import resource
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = np.frombuffer(data[b:e], dtype=np.int16 if info["dtype"] in ("BF16", "F16") else np.float32)
        t = torch.from_numpy(raw.copy())
        if info["dtype"] == "BF16":
            t = t.view(torch.bfloat16)
        elif info["dtype"] == "F16":
            t = t.view(torch.float16)
        out[name] = t.reshape(info["shape"])
    return out


class LoraLinear(torch.nn.Module):
    def __init__(self, weight, r, alpha):
        super().__init__()
        self.weight = weight  # frozen
        out_f, in_f = weight.shape
        self.a = torch.nn.Parameter(torch.empty(r, in_f).uniform_(-1 / math.sqrt(in_f), 1 / math.sqrt(in_f)))
        self.b = torch.nn.Parameter(torch.zeros(out_f, r))
        self.scaling = alpha / r

    def forward(self, x):
        return F.linear(x, self.weight) + F.linear(F.linear(x, self.a), self.b) * self.scaling


def rms_norm(x, w, eps):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


class Model(torch.nn.Module):
    def __init__(self, folder, r, alpha):
        super().__init__()
        c = json.load(open(os.path.join(folder, "config.json")))
        w = load_safetensors(os.path.join(folder, "model.safetensors"))
        self.c = c
        self.hd = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        self.embed = w["model.embed_tokens.weight"]
        self.layers = torch.nn.ModuleList()
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            layer = torch.nn.Module()
            for m in ("q_proj", "k_proj", "v_proj", "o_proj"):
                setattr(layer, m, LoraLinear(w[p + "self_attn." + m + ".weight"], r, alpha))
            for m in ("gate_proj", "up_proj", "down_proj"):
                setattr(layer, m, LoraLinear(w[p + "mlp." + m + ".weight"], r, alpha))
            layer.n1 = w[p + "input_layernorm.weight"]
            layer.n2 = w[p + "post_attention_layernorm.weight"]
            self.layers.append(layer)
        self.norm = w["model.norm.weight"]
        self.lm_head = w.get("lm_head.weight", self.embed)
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, self.hd, 2).float() / self.hd))
        self.inv = inv

    def forward(self, ids):
        c, hd = self.c, self.hd
        b, t = ids.shape
        h, kvh = c["num_attention_heads"], c["num_key_value_heads"]
        x = F.embedding(ids, self.embed)
        ang = torch.arange(t).float()[:, None] * self.inv[None]
        cos, sin = torch.cat((ang, ang), -1).cos().to(x.dtype), torch.cat((ang, ang), -1).sin().to(x.dtype)
        mask = torch.full((t, t), float("-inf")).triu(1)
        for L in self.layers:
            y = rms_norm(x, L.n1, c["rms_norm_eps"])
            q = L.q_proj(y).view(b, t, h, hd).transpose(1, 2)
            k = L.k_proj(y).view(b, t, kvh, hd).transpose(1, 2)
            v = L.v_proj(y).view(b, t, kvh, hd).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(h // kvh, 1)
            v = v.repeat_interleave(h // kvh, 1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask.to(q.dtype)
            a = (torch.softmax(s.float(), -1).to(q.dtype) @ v).transpose(1, 2).reshape(b, t, h * hd)
            x = x + L.o_proj(a)
            y = rms_norm(x, L.n2, c["rms_norm_eps"])
            x = x + L.down_proj(F.silu(L.gate_proj(y)) * L.up_proj(y))
        x = rms_norm(x, self.norm, c["rms_norm_eps"])
        return F.linear(x, self.lm_head)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model(a.model, a.r, 2 * a.r)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    vocab = model.embed.shape[0]
    times = []
    for step in range(a.warmup + a.steps):
        ids = torch.randint(0, vocab, (a.batch, a.seq))
        t0 = time.time()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, vocab), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.time() - t0)
    timed = times[a.warmup:]
    step_s = sum(timed) / len(timed)
    print(json.dumps({"tokens_per_s": a.batch * a.seq / step_s, "step_s": step_s,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    main()
