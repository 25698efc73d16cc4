#!/usr/bin/python3
"""Writes a LoRA adapter folder the way PEFT saves one, and its reference logits, for the export tests.

What it is for: Headroom must load adapters that PEFT wrote (not only its own), including rsLoRA
and a subset of target modules, and its exports start from such folders. This script plays PEFT's
part without PEFT: adapter_config.json is json.dumps(asdict(LoraConfig), indent=2, sort_keys=True)
with the fields PEFT 0.14 writes (inference_mode true, target_modules as the unordered list a set
becomes), adapter_model.safetensors has PEFT's keys (no adapter name), float32, metadata
{"format": "pt"}. The expected logits come from the numpy reference forward pass
(hf_llama_reference.py) with every targeted projection computed as
    y = base(x) + scaling * (x @ A.T) @ B.T,    scaling = lora_alpha / sqrt(r)   (use_rslora)
i.e. PEFT's LoRA Linear forward, in float64 — no merged weights, no LibTorch.

Usage:
    /usr/bin/python3 tests/reference/make_peft_adapter.py            # rewrite tests/data/export/
    /usr/bin/python3 tests/reference/make_peft_adapter.py --verify   # regenerate in a temp dir and compare
"""

import argparse
import filecmp
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_llama_reference as ref  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "tests/data/models/llama_gqa_tied_bias_llama3rope"
OUT = ROOT / "tests/data/export"
RANK = 4
ALPHA = 8
# A set in PEFT, so saved in no particular order; o_proj, gate_proj and up_proj stay frozen.
TARGETS = ["v_proj", "q_proj", "down_proj", "k_proj"]


def peft_config():
    """LoraConfig as PEFT 0.14 saves it (asdict, sort_keys, indent 2)."""
    return {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": "headroom-fixtures/llama_gqa_tied_bias_llama3rope",
        "bias": "none",
        "eva_config": None,
        "exclude_modules": None,
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layer_replication": None,
        "layers_pattern": None,
        "layers_to_transform": None,
        "loftq_config": {},
        "lora_alpha": ALPHA,
        "lora_bias": False,
        "lora_dropout": 0.05,
        "megatron_config": None,
        "megatron_core": "megatron.core",
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": RANK,
        "rank_pattern": {},
        "revision": None,
        "target_modules": TARGETS,
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": True,
    }


def module_path(layer, module):
    block = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
    return f"model.layers.{layer}.{block}.{module}"


def make_adapter(config, weights, rng):
    """{module path: (A [r, in], B [out, r])} as a trained adapter would look (B nonzero)."""
    adapters = {}
    for layer in range(config["num_hidden_layers"]):
        for module in sorted(TARGETS):
            out_features, in_features = weights[module_path(layer, module) + ".weight"].shape
            bound = 1.0 / math.sqrt(in_features)  # kaiming_uniform(a=sqrt(5)) as PEFT initialises A
            a = rng.uniform(-bound, bound, size=(RANK, in_features)).astype(np.float32)
            b = rng.normal(0.0, 0.05, size=(out_features, RANK)).astype(np.float32)
            adapters[module_path(layer, module)] = (a, b)
    return adapters


def forward_with_adapter(config, weights, adapters, scaling, ids, mask):
    base_linear = ref.linear

    def lora_linear(x, w, name, bias):
        y = base_linear(x, w, name, bias)
        if name in adapters:
            a, b = (t.astype(np.float64) for t in adapters[name])
            y = y + scaling * ((x @ a.T) @ b.T)
        return y

    ref.linear = lora_linear
    try:
        return ref.forward(config, weights, ids, mask)
    finally:
        ref.linear = base_linear


def generate(out_dir):
    out_dir = Path(out_dir)
    adapter_dir = out_dir / "peft_rslora_adapter"
    adapter_dir.mkdir(parents=True, exist_ok=True)
    config, weights = ref.load_model(BASE)
    adapters = make_adapter(config, weights, np.random.RandomState(20261126))
    tensors = {}
    for path, (a, b) in adapters.items():
        tensors[f"base_model.model.{path}.lora_A.weight"] = a
        tensors[f"base_model.model.{path}.lora_B.weight"] = b
    ref.write_safetensors(adapter_dir / "adapter_model.safetensors", tensors, {"format": "pt"})
    (adapter_dir / "adapter_config.json").write_text(json.dumps(peft_config(), indent=2, sort_keys=True))

    # Read the adapter back from the file, as the engine will.
    stored, _ = ref.read_safetensors(adapter_dir / "adapter_model.safetensors")
    adapters = {p: (stored[f"base_model.model.{p}.lora_A.weight"], stored[f"base_model.model.{p}.lora_B.weight"])
                for p in adapters}
    expected, _ = ref.read_safetensors(BASE / "expected.safetensors")
    ids, mask = expected["input_ids"], expected["attention_mask"]
    scaling = ALPHA / math.sqrt(RANK)
    logits = forward_with_adapter(config, weights, adapters, scaling, ids, mask)
    base_logits = ref.forward(config, weights, ids, mask)
    shift = np.abs(logits - base_logits).max()
    assert 0.05 < shift < 20, f"the adapter should move the logits visibly, moved {shift}"
    ref.write_safetensors(out_dir / "peft_rslora_expected.safetensors",
                          {"input_ids": ids, "attention_mask": mask, "logits": logits.astype(np.float32)})
    print(f"wrote {adapter_dir} and peft_rslora_expected.safetensors (max logit shift {shift:.3f})")


def verify():
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        names = ["peft_rslora_adapter/adapter_config.json", "peft_rslora_adapter/adapter_model.safetensors"]
        for name in names:
            if not filecmp.cmp(Path(tmp) / name, OUT / name, shallow=False):
                sys.exit(f"{name} differs from the committed copy")
        new, _ = ref.read_safetensors(Path(tmp) / "peft_rslora_expected.safetensors")
        old, _ = ref.read_safetensors(OUT / "peft_rslora_expected.safetensors")
        if not np.allclose(new["logits"], old["logits"], rtol=1e-6, atol=1e-6):
            sys.exit("peft_rslora_expected.safetensors logits differ from the committed copy")
    print("committed PEFT adapter fixture matches")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args()
    verify() if args.verify else generate(OUT)


if __name__ == "__main__":
    main()
