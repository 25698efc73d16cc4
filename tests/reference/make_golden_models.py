#!/usr/bin/python3
"""Generate the tiny golden HF model folders under tests/data/models/.

Each variant becomes tests/data/models/<variant>/ with
  config.json           as transformers' save_pretrained writes it (sorted keys, indent 2)
  model.safetensors     HF tensor names, F32 or BF16, lm_head.weight omitted when tied
  expected.safetensors  input_ids, attention_mask, labels, logits, loss, greedy_prompt, greedy_tokens
The expected values are computed by hf_llama_reference.py from the files just written (read back
from disk), in float64, and stored as float32 / int64.

Usage (numpy only; Debian's /usr/bin/python3 has it):
    /usr/bin/python3 tests/reference/make_golden_models.py            # (re)write the fixtures
    /usr/bin/python3 tests/reference/make_golden_models.py --verify   # regenerate in a temp dir
                                                                      # and compare with the repo
The weights come from numpy's legacy RandomState (its stream is frozen across numpy versions), so
model.safetensors and config.json regenerate byte for byte; expected logits may differ in the last
float32 bit across BLAS builds, which --verify tolerates.
"""

import argparse
import copy
import filecmp
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_llama_reference as ref  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = REPO_ROOT / "tests" / "data" / "models"
TRANSFORMERS_VERSION = "4.49.0"  # the save_pretrained format these configs follow
BOS, EOS, PAD = 1, 2, 0
GREEDY_PROMPT_LEN = 6
GREEDY_NEW_TOKENS = 8
MIN_GREEDY_MARGIN = 0.02  # top-1 minus top-2 logit at every greedy step (float32 noise is ~1e-5)


# --------------------------------------------------------------------------------------------
# config.json, one builder per architecture, with the keys that class writes
# --------------------------------------------------------------------------------------------


def _common(arch, model_type, hidden, intermediate, layers, heads, kv_heads, vocab, dtype, tied, rope_theta, eps):
    return {
        "architectures": [arch],
        "model_type": model_type,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "hidden_act": "silu",
        "rms_norm_eps": eps,
        "rope_theta": rope_theta,
        "vocab_size": vocab,
        "tie_word_embeddings": tied,
        "torch_dtype": dtype,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "initializer_range": 0.02,
        "attention_dropout": 0.0,
        "use_cache": True,
        "transformers_version": TRANSFORMERS_VERSION,
    }


def llama_config(hidden, intermediate, heads, kv_heads, vocab, dtype="float32", tied=False, rope_theta=10000.0,
                 rope_scaling=None, attention_bias=False, mlp_bias=False, head_dim=None, layers=2,
                 max_positions=256, eps=1e-5):
    config = _common("LlamaForCausalLM", "llama", hidden, intermediate, layers, heads, kv_heads, vocab, dtype, tied,
                     rope_theta, eps)
    config.update({
        "head_dim": head_dim or hidden // heads,  # LlamaConfig always stores it
        "max_position_embeddings": max_positions,
        "rope_scaling": rope_scaling,
        "attention_bias": attention_bias,
        "mlp_bias": mlp_bias,
        "pretraining_tp": 1,
    })
    return config


def mistral_config(hidden, intermediate, heads, kv_heads, vocab, sliding_window, head_dim=None, rope_scaling=None,
                   rope_theta=10000.0, layers=2, max_positions=256, eps=1e-5, dtype="float32"):
    config = _common("MistralForCausalLM", "mistral", hidden, intermediate, layers, heads, kv_heads, vocab, dtype,
                     False, rope_theta, eps)
    config.update({"head_dim": head_dim or hidden // heads, "max_position_embeddings": max_positions,
                   "sliding_window": sliding_window})
    if rope_scaling is not None:
        # MistralConfig has no rope_scaling parameter; it is kept as an extra attribute and the
        # rotary embedding (Llama's, since 4.48) reads it.
        config["rope_scaling"] = rope_scaling
    return config


def qwen2_config(hidden, intermediate, heads, kv_heads, vocab, rope_theta=1000000.0, layers=2, max_positions=256,
                 eps=1e-6, dtype="float32", sliding_window=None, use_sliding_window=False, max_window_layers=28):
    config = _common("Qwen2ForCausalLM", "qwen2", hidden, intermediate, layers, heads, kv_heads, vocab, dtype,
                     False, rope_theta, eps)
    config.update({"max_position_embeddings": max_positions, "rope_scaling": None,
                   "use_sliding_window": use_sliding_window, "sliding_window": sliding_window,
                   "max_window_layers": max_window_layers})
    return config


def config_json(config):
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def make_weights(config, rng, scales):
    hidden, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    dim = ref.head_dim_of(config)
    qkv_bias, o_bias, mlp_bias = ref.attention_biases(config)

    def normal(std, shape):
        return rng.normal(0.0, std, shape)

    def norm_weight():
        return 1.0 + rng.normal(0.0, 0.1, hidden)

    w = {"model.embed_tokens.weight": normal(scales["embed"], (vocab, hidden))}
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        w[p + "input_layernorm.weight"] = norm_weight()
        for name, rows, std in (("q_proj", heads * dim, scales["qk"]), ("k_proj", kv_heads * dim, scales["qk"]),
                                ("v_proj", kv_heads * dim, scales["proj"])):
            w[p + f"self_attn.{name}.weight"] = normal(std, (rows, hidden))
            if qkv_bias:
                w[p + f"self_attn.{name}.bias"] = normal(scales["bias"], rows)
        w[p + "self_attn.o_proj.weight"] = normal(scales["proj"], (hidden, heads * dim))
        if o_bias:
            w[p + "self_attn.o_proj.bias"] = normal(scales["bias"], hidden)
        w[p + "post_attention_layernorm.weight"] = norm_weight()
        for name, shape in (("gate_proj", (inter, hidden)), ("up_proj", (inter, hidden)), ("down_proj", (hidden, inter))):
            w[p + f"mlp.{name}.weight"] = normal(scales["proj"], shape)
            if mlp_bias:
                w[p + f"mlp.{name}.bias"] = normal(scales["bias"], shape[0])
    w["model.norm.weight"] = norm_weight()
    if not ref.tie_word_embeddings(config):
        w["lm_head.weight"] = normal(scales["head"], (vocab, hidden))
    return w


def storage_tensors(weights, dtype):
    if dtype == "float32":
        return {k: v.astype(np.float32) for k, v in weights.items()}
    if dtype == "bfloat16":
        return {k: ref.Bf16(ref.f32_to_bf16_bits(v.astype(np.float32))) for k, v in weights.items()}
    raise ValueError(dtype)


# --------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------

DEFAULT_SCALES = {"embed": 0.5, "qk": 0.15, "proj": 0.08, "bias": 0.1, "head": 0.12}

VARIANTS = [
    {
        "name": "llama_mha_untied",
        "summary": "LlamaForCausalLM, MHA (heads == kv heads), untied lm_head, default RoPE, F32",
        "seed": 1001,
        "seq_len": 14,
        "config": llama_config(hidden=48, intermediate=96, heads=4, kv_heads=4, vocab=112),
    },
    {
        "name": "llama_gqa_tied_bias_llama3rope",
        "summary": "LlamaForCausalLM, GQA 4/2, tied embeddings (no lm_head.weight), attention_bias + mlp_bias, "
                   "llama3 rope_scaling hitting the high, smooth and low bands",
        "seed": 1002,
        "seq_len": 16,
        "scales": {"embed": 0.1, "proj": 0.2},
        "config": llama_config(hidden=64, intermediate=96, heads=4, kv_heads=2, vocab=128, tied=True,
                               rope_theta=500000.0, attention_bias=True, mlp_bias=True, max_positions=512,
                               rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                             "original_max_position_embeddings": 64, "rope_type": "llama3"}),
    },
    {
        "name": "qwen2_bias_gqa",
        "summary": "Qwen2ForCausalLM, q/k/v biases (no o bias), GQA 4/2, untied, rope_theta 1e6, no head_dim key; "
                   "sliding_window 8 present but use_sliding_window false (must be ignored)",
        "seed": 1003,
        "seq_len": 16,
        "scales": {"bias": 0.3},
        "config": qwen2_config(hidden=48, intermediate=96, heads=4, kv_heads=2, vocab=128, sliding_window=8,
                               use_sliding_window=False, max_window_layers=1),
    },
    {
        "name": "mistral_headdim_linear",
        "summary": "MistralForCausalLM, head_dim 16 != hidden/heads 12, GQA 4/2, rope_scaling linear x2 "
                   "(older 'type' key), sliding_window 6 < seq_len 16",
        "seed": 1004,
        "seq_len": 16,
        "config": mistral_config(hidden=48, intermediate=96, heads=4, kv_heads=2, vocab=112, head_dim=16,
                                 sliding_window=6, rope_scaling={"factor": 2.0, "type": "linear"}),
    },
    {
        "name": "mistral_mqa_window_large",
        "summary": "MistralForCausalLM, MQA (1 kv head), sliding_window 32 > every sequence used (window inert)",
        "seed": 1005,
        "seq_len": 12,
        "config": mistral_config(hidden=32, intermediate=64, heads=2, kv_heads=1, vocab=96, sliding_window=32),
    },
    {
        "name": "llama_bf16",
        "summary": "LlamaForCausalLM, torch_dtype bfloat16, weights stored as BF16 (round to nearest even); "
                   "expected logits from the bf16 values in float64",
        "seed": 1006,
        "seq_len": 16,
        "config": llama_config(hidden=64, intermediate=128, heads=4, kv_heads=4, vocab=128, dtype="bfloat16"),
    },
]

PAD_TOKENS = 4  # row 1 is right-padded with this many tokens
PROMPT_LABELS = 3  # labels of the first tokens of each row are -100 ("prompt")


def make_inputs(config, rng, seq_len):
    vocab = config["vocab_size"]
    ids = rng.randint(3, vocab, size=(2, seq_len)).astype(np.int64)
    ids[:, 0] = BOS
    mask = np.ones((2, seq_len), dtype=np.int64)
    mask[1, seq_len - PAD_TOKENS:] = 0
    ids[1, seq_len - PAD_TOKENS:] = PAD
    labels = ids.copy()
    labels[:, :PROMPT_LABELS] = ref.IGNORE_INDEX
    labels[mask == 0] = ref.IGNORE_INDEX
    return ids, mask, labels


def pick_greedy_prompt(config, weights, rng):
    """First prompt from the stream whose greedy continuation is varied, avoids EOS and has clear
    top-1 margins (so float32 engines agree with the float64 reference)."""
    for _ in range(200):
        prompt = np.concatenate([[BOS], rng.randint(3, config["vocab_size"], GREEDY_PROMPT_LEN - 1)]).astype(np.int64)
        tokens, margins = ref.greedy_generate(config, weights, prompt, GREEDY_NEW_TOKENS)
        if EOS in tokens or min(margins) < MIN_GREEDY_MARGIN or len(set(tokens)) < 4:
            continue
        return prompt, np.array(tokens, dtype=np.int64), min(margins)
    raise RuntimeError(f"no usable greedy prompt for {config['architectures'][0]}")


# --------------------------------------------------------------------------------------------
# Self-checks: each fixture must actually exercise what its name promises
# --------------------------------------------------------------------------------------------


def _max_diff(config_a, config_b, weights, ids, mask):
    return float(np.max(np.abs(ref.forward(config_a, weights, ids, mask) - ref.forward(config_b, weights, ids, mask))))


def feature_checks(variant, config, weights, ids, mask, stored):
    notes = []
    name = variant["name"]
    seq_len = ids.shape[1]

    def differs(label, other, threshold=1e-2):
        d = _max_diff(config, other, weights, ids, mask)
        assert d > threshold, f"{name}: {label} changes logits by only {d:.3g}"
        notes.append(f"{label}: max |dlogit| {d:.3g}")

    if ref.rope_type_of(config) == "llama3":
        base = dict(config, rope_scaling=None)
        inv_freq = ref.rope_inv_freq(base)
        bands = ref.llama3_bands(config, inv_freq)
        assert {"high", "smooth", "low"} <= set(bands.tolist()), f"{name}: llama3 bands {bands}"
        scaling = config["rope_scaling"]
        wavelen = 2 * np.pi / inv_freq
        for edge in (scaling["original_max_position_embeddings"] / scaling["low_freq_factor"],
                     scaling["original_max_position_embeddings"] / scaling["high_freq_factor"]):
            assert np.min(np.abs(wavelen / edge - 1)) > 1e-2, f"{name}: a wavelength sits on a band edge"
        notes.append("llama3 bands per frequency: " + " ".join(bands.tolist()))
        notes.append("wavelengths: " + " ".join(f"{x:.1f}" for x in wavelen))
        differs("llama3 scaling vs none", base)
    if ref.rope_type_of(config) == "linear":
        differs("linear scaling vs none", {k: v for k, v in config.items() if k != "rope_scaling"})
    if config["model_type"] == "mistral":
        window = config["sliding_window"]
        if window < seq_len:
            differs("sliding window vs none", dict(config, sliding_window=None))
            differs(f"window {window} vs {window + 1} (distance == window is masked)",
                    dict(config, sliding_window=window + 1))
            differs(f"window {window} vs {window - 1}", dict(config, sliding_window=window - 1))
        else:
            assert window > GREEDY_PROMPT_LEN + GREEDY_NEW_TOKENS
            d = _max_diff(config, dict(config, sliding_window=None), weights, ids, mask)
            assert d == 0.0, f"{name}: a window larger than the sequence changed logits"
            notes.append(f"window {window} > seq {seq_len}: logits equal to plain causal")
    if config["model_type"] == "qwen2" and config.get("sliding_window") is not None:
        assert not config["use_sliding_window"]
        differs("Qwen2 sliding_window if it were (wrongly) applied", dict(config, use_sliding_window=True))
    if ref.head_dim_of(config) != config["hidden_size"] // config["num_attention_heads"]:
        notes.append(f"head_dim {ref.head_dim_of(config)} != hidden/heads "
                     f"{config['hidden_size'] // config['num_attention_heads']}")
    if ref.tie_word_embeddings(config):
        assert "lm_head.weight" not in stored, f"{name}: tied model wrote lm_head.weight"
    qkv_bias, o_bias, mlp_bias = ref.attention_biases(config)
    for flag, key in ((qkv_bias, "model.layers.0.self_attn.q_proj.bias"),
                      (o_bias, "model.layers.0.self_attn.o_proj.bias"),
                      (mlp_bias, "model.layers.0.mlp.up_proj.bias")):
        assert flag == (key in stored), f"{name}: {key} presence does not match the config"
    if config["torch_dtype"] == "bfloat16":
        for key, value in weights.items():
            bits = ref.f32_to_bf16_bits(value.astype(np.float32))
            assert np.array_equal(ref.bf16_bits_to_f32(bits).astype(np.float64), value), key
        notes.append("all weights are exact bf16 values")
    return notes


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def build_variant(variant, out_dir):
    config = copy.deepcopy(variant["config"])
    scales = dict(DEFAULT_SCALES, **variant.get("scales", {}))
    rng = np.random.RandomState(variant["seed"])
    folder = out_dir / variant["name"]
    folder.mkdir(parents=True, exist_ok=True)

    raw = make_weights(config, rng, scales)
    stored = storage_tensors(raw, config["torch_dtype"])
    (folder / "config.json").write_text(config_json(config))
    ref.write_safetensors(folder / "model.safetensors", stored, metadata={"format": "pt"})

    # Everything below uses the weights as read back from disk.
    config, weights = ref.load_model(folder)
    ids, mask, labels = make_inputs(config, rng, variant["seq_len"])
    logits = ref.forward(config, weights, ids, mask)
    loss = ref.causal_lm_loss(logits, labels)
    prompt, greedy, margin = pick_greedy_prompt(config, weights, rng)
    assert np.all(np.isfinite(logits)) and np.isfinite(loss)
    assert float(np.std(logits)) > 0.3, f"{variant['name']}: logits too flat"
    notes = feature_checks(variant, config, weights, ids, mask, stored)

    ref.write_safetensors(folder / "expected.safetensors", {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": labels,
        "logits": logits.astype(np.float32),
        "loss": np.array(loss, dtype=np.float32),
        "greedy_prompt": prompt,
        "greedy_tokens": greedy,
    }, metadata={"generator": "tests/reference/make_golden_models.py", "variant": variant["name"]})

    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"{variant['name']}: {variant['summary']}")
    print(f"  hidden {config['hidden_size']} inter {config['intermediate_size']} heads "
          f"{config['num_attention_heads']}/{config['num_key_value_heads']} head_dim {ref.head_dim_of(config)} "
          f"vocab {config['vocab_size']} layers {config['num_hidden_layers']} T {ids.shape[1]}; {size} bytes")
    print(f"  logits std {np.std(logits):.3f}, loss {loss:.5f}, greedy {greedy.tolist()} "
          f"(min top-1 margin {margin:.3f}) after prompt {prompt.tolist()}")
    for note in notes:
        print(f"  {note}")
    return size


def generate(out_dir):
    total = sum(build_variant(v, out_dir) for v in VARIANTS)
    print(f"total fixture size: {total} bytes")


def verify():
    """Regenerate into a temp dir and compare with the committed fixtures."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        for variant in VARIANTS:
            new, old = Path(tmp) / variant["name"], OUT_DIR / variant["name"]
            for fname in ("config.json", "model.safetensors"):
                if not (old / fname).exists() or not filecmp.cmp(new / fname, old / fname, shallow=False):
                    problems.append(f"{variant['name']}/{fname} differs")
            if not (old / "expected.safetensors").exists():
                problems.append(f"{variant['name']}/expected.safetensors missing")
                continue
            a, _ = ref.read_safetensors(new / "expected.safetensors")
            b, _ = ref.read_safetensors(old / "expected.safetensors")
            for key in a:
                same = (np.allclose(a[key], b[key], rtol=1e-6, atol=1e-6) if a[key].dtype.kind == "f"
                        else np.array_equal(a[key], b[key]))
                if not same:
                    problems.append(f"{variant['name']}/expected.safetensors:{key} differs")
    for p in problems:
        print(p)
    print("verify:", "ok" if not problems else "FAILED")
    return not problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verify", action="store_true", help="regenerate in a temp dir and compare")
    args = parser.parse_args()
    if args.verify:
        return 0 if verify() else 1
    generate(OUT_DIR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
