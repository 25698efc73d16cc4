#!/usr/bin/python3
"""Independent numpy reference of the Hugging Face Llama-family causal LM forward pass.

What it is for: the golden fixtures under tests/data/models/ are computed with this module, and
the C++ engine is checked against them. It re-derives, in plain numpy, the formulas of
transformers' LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM (modeling_llama.py,
modeling_mistral.py, modeling_qwen2.py, modeling_rope_utils.py, masking_utils.py,
loss/loss_utils.py). No transformers or torch code is used or imported, so the reference does
not share a single line with LibTorch or with HF.

Intended usage:
    config, weights = load_model("tests/data/models/llama_mha_untied")
    logits = forward(config, weights, input_ids, attention_mask)      # float64 [B, T, V]
    loss = causal_lm_loss(logits, labels)
    tokens = greedy_generate(config, weights, prompt, 8)

or, from the shell, re-check a fixture folder against its expected.safetensors:
    /usr/bin/python3 tests/reference/hf_llama_reference.py tests/data/models/*

Everything is computed in float64 (weights are upcast on load). Where HF deliberately casts
(RMSNorm variance and softmax in float32, then back to the activation dtype), the same order is
kept, with "float32" read as "at least float32": a float64 activation stays float64 here (HF's
`.to(torch.float32)` would round it; the difference is far below any test tolerance).
"""

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

IGNORE_INDEX = -100

# --------------------------------------------------------------------------------------------
# safetensors: u64 little-endian header length N, N bytes of JSON (padded with spaces), data.
# --------------------------------------------------------------------------------------------

_ST_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # raw bits; converted by bf16_bits_to_f32
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NP_TO_ST = {
    np.dtype("<f8"): "F64",
    np.dtype("<f4"): "F32",
    np.dtype("<f2"): "F16",
    np.dtype("<i8"): "I64",
    np.dtype("<i4"): "I32",
    np.dtype("<i2"): "I16",
    np.dtype("i1"): "I8",
    np.dtype("u1"): "U8",
    np.dtype("?"): "BOOL",
}


class Bf16:
    """Marks a uint16 array of raw bfloat16 bits for write_safetensors."""

    def __init__(self, bits):
        assert bits.dtype == np.uint16
        self.bits = bits


def f32_to_bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest, ties to even (what torch's .to(bfloat16) does)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    rounded[nan] = np.uint16(0x7FC0)
    return rounded


def bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors, metadata=None):
    """Write {name: np.ndarray | Bf16} to `path`. Tensors are laid out in name order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        value = tensors[name]
        if isinstance(value, Bf16):
            dtype, array = "BF16", value.bits.astype("<u2")
        else:
            array = np.asarray(value)
            array = array.astype(array.dtype.newbyteorder("<"))
            dtype = _NP_TO_ST[array.dtype]
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    """Read a safetensors file -> ({name: np.ndarray}, metadata). BF16 comes back as float32."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    buffer = raw[8 + n :]
    spans = sorted((h["data_offsets"][0], h["data_offsets"][1], name) for name, h in header.items())
    position = 0
    for begin, end, name in spans:  # the buffer must be covered contiguously, without holes
        if begin != position:
            raise ValueError(f"{path}: hole or overlap before {name}")
        position = end
    if position != len(buffer):
        raise ValueError(f"{path}: buffer has {len(buffer) - position} trailing bytes")
    tensors = {}
    for name, h in header.items():
        begin, end = h["data_offsets"]
        dtype = _ST_DTYPES[h["dtype"]]
        count = int(np.prod(h["shape"], dtype=np.int64))
        if (end - begin) != count * dtype.itemsize:
            raise ValueError(f"{path}: {name} has a wrong byte size")
        array = np.frombuffer(buffer, dtype=dtype, count=count, offset=begin).reshape(h["shape"])
        if h["dtype"] == "BF16":
            array = bf16_bits_to_f32(array)
        tensors[name] = array.copy()
    return tensors, metadata


# --------------------------------------------------------------------------------------------
# Config interpretation: what each architecture reads from config.json.
# --------------------------------------------------------------------------------------------


def head_dim_of(config):
    # LlamaConfig/MistralConfig: head_dim, or hidden_size // num_attention_heads when absent/null.
    # Qwen2Config (4.x) has no head_dim at all.
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def attention_biases(config):
    """(q/k/v bias, o bias, mlp bias) as each architecture builds its nn.Linear layers."""
    model_type = config["model_type"]
    if model_type == "llama":
        attention_bias = bool(config.get("attention_bias", False))
        return attention_bias, attention_bias, bool(config.get("mlp_bias", False))
    if model_type == "qwen2":
        return True, False, False  # Qwen2Attention: q/k/v bias=True, o_proj bias=False; MLP no bias
    if model_type == "mistral":
        return False, False, False
    raise ValueError(f"unsupported model_type {model_type!r}")


def sliding_window_for_layer(config, layer):
    """Keys at distance >= window are masked; None means plain causal attention."""
    model_type = config["model_type"]
    if model_type == "mistral":
        return config.get("sliding_window")
    if model_type == "qwen2":
        # Qwen2Config keeps sliding_window only when use_sliding_window is true, and then only
        # layers >= max_window_layers use it.
        if not config.get("use_sliding_window", False) or config.get("sliding_window") is None:
            return None
        return config["sliding_window"] if layer >= config.get("max_window_layers", 28) else None
    return None


def tie_word_embeddings(config):
    # Llama, Mistral and Qwen2 configs all default to False.
    return bool(config.get("tie_word_embeddings", False))


def rope_type_of(config):
    scaling = config.get("rope_scaling")
    if not scaling:
        return "default"
    return scaling.get("rope_type", scaling.get("type", "default"))  # "type" is the older key


def llama3_bands(config, inv_freq):
    """Band of each frequency under llama3 scaling: 'high' (kept), 'low' (/factor) or 'smooth'."""
    scaling = config["rope_scaling"]
    old_context = scaling["original_max_position_embeddings"]
    low_freq_wavelen = old_context / scaling["low_freq_factor"]
    high_freq_wavelen = old_context / scaling["high_freq_factor"]
    wavelen = 2.0 * math.pi / inv_freq
    return np.where(wavelen < high_freq_wavelen, "high", np.where(wavelen > low_freq_wavelen, "low", "smooth"))


def rope_inv_freq(config):
    """Inverse frequencies (float64, head_dim // 2 of them) after rope_scaling."""
    dim = head_dim_of(config)
    base = float(config.get("rope_theta", 10000.0))
    inv_freq = 1.0 / base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    rope_type = rope_type_of(config)
    if rope_type == "default":
        return inv_freq
    scaling = config["rope_scaling"]
    if rope_type == "linear":
        # Dividing positions by factor == dividing the frequencies by factor.
        return inv_freq / float(scaling["factor"])
    if rope_type == "llama3":
        factor = float(scaling["factor"])
        low = float(scaling["low_freq_factor"])
        high = float(scaling["high_freq_factor"])
        old_context = float(scaling["original_max_position_embeddings"])
        wavelen = 2.0 * math.pi / inv_freq
        bands = llama3_bands(config, inv_freq)
        # Smooth band: interpolate between inv_freq / factor and inv_freq, with weight
        # s = (old_context / wavelen - low) / (high - low) on the unscaled frequency.
        smooth = (old_context / wavelen - low) / (high - low)
        smoothed = (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
        return np.where(bands == "high", inv_freq, np.where(bands == "low", inv_freq / factor, smoothed))
    raise ValueError(f"unsupported rope type {rope_type!r}")


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def _at_least_f32(dtype):
    return np.promote_types(dtype, np.float32)


def rms_norm(x, weight, eps):
    """HF order: variance and normalisation in (at least) float32, cast back, then weight * x."""
    input_dtype = x.dtype
    h = x.astype(_at_least_f32(input_dtype))
    variance = np.mean(h * h, axis=-1, keepdims=True)
    h = h * (1.0 / np.sqrt(variance + eps))
    return weight * h.astype(input_dtype)


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    """Softmax in (at least) float32, returned in the input dtype; -inf entries get 0."""
    input_dtype = x.dtype
    h = x.astype(_at_least_f32(input_dtype))
    h = h - np.max(h, axis=axis, keepdims=True)
    e = np.exp(h)
    return (e / np.sum(e, axis=axis, keepdims=True)).astype(input_dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rope_cos_sin(config, positions):
    """cos/sin of shape [T, head_dim]: the frequencies are repeated twice (cat(freqs, freqs))."""
    freqs = np.outer(np.asarray(positions, dtype=np.float64), rope_inv_freq(config))
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb), np.sin(emb)


def apply_rope(x, cos, sin):
    # x: [B, heads, T, D]; cos/sin: [T, D]
    return x * cos + rotate_half(x) * sin


def linear(x, weights, name, bias):
    y = x @ weights[name + ".weight"].T
    if bias:
        y = y + weights[name + ".bias"]
    return y


def attention_allowed(attention_mask, window):
    """Boolean [B, T, T]: query i may attend key j. Causal, padding keys removed, sliding window."""
    batch, length = attention_mask.shape
    i = np.arange(length)[:, None]
    j = np.arange(length)[None, :]
    allowed = j <= i
    if window is not None:
        allowed = allowed & (j > i - window)  # distance i - j == window is already masked
    allowed = allowed[None, :, :] & (attention_mask[:, None, :] != 0)
    if not allowed.any(axis=-1).all():
        # HF would fill such a row with finfo.min and attend uniformly (or all keys with SDPA);
        # that is implementation-defined, so fixtures must not contain one.
        raise ValueError("a query row has no key to attend to")
    return allowed


def self_attention(config, weights, prefix, x, cos, sin, allowed):
    batch, length, _ = x.shape
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    dim = head_dim_of(config)
    qkv_bias, o_bias, _ = attention_biases(config)

    q = linear(x, weights, prefix + "q_proj", qkv_bias).reshape(batch, length, heads, dim).transpose(0, 2, 1, 3)
    k = linear(x, weights, prefix + "k_proj", qkv_bias).reshape(batch, length, kv_heads, dim).transpose(0, 2, 1, 3)
    v = linear(x, weights, prefix + "v_proj", qkv_bias).reshape(batch, length, kv_heads, dim).transpose(0, 2, 1, 3)
    q = apply_rope(q, cos, sin)
    k = apply_rope(k, cos, sin)

    # GQA: query head h reads key/value head h // (heads / kv_heads) (repeat_kv order).
    group = heads // kv_heads
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)

    scores = (q @ k.transpose(0, 1, 3, 2)) * dim**-0.5
    scores = np.where(allowed[:, None, :, :], scores, -np.inf)
    probs = softmax(scores, axis=-1)
    out = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, heads * dim)
    return linear(out, weights, prefix + "o_proj", o_bias)


def mlp(config, weights, prefix, x):
    _, _, bias = attention_biases(config)
    gate = linear(x, weights, prefix + "gate_proj", bias)
    up = linear(x, weights, prefix + "up_proj", bias)
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError("only hidden_act 'silu' is supported")
    return linear(silu(gate) * up, weights, prefix + "down_proj", bias)


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


def forward(config, weights, input_ids, attention_mask=None):
    """Logits [B, T, V] in float64. Positions are 0..T-1 for every row (HF's default when
    position_ids is not given), whatever the padding."""
    input_ids = np.asarray(input_ids, dtype=np.int64)
    if input_ids.ndim == 1:
        input_ids = input_ids[None, :]
    batch, length = input_ids.shape
    if attention_mask is None:
        attention_mask = np.ones_like(input_ids)
    attention_mask = np.asarray(attention_mask)
    eps = float(config["rms_norm_eps"])

    cos, sin = rope_cos_sin(config, np.arange(length))
    hidden = weights["model.embed_tokens.weight"][input_ids]
    for layer in range(config["num_hidden_layers"]):
        prefix = f"model.layers.{layer}."
        allowed = attention_allowed(attention_mask, sliding_window_for_layer(config, layer))
        residual = hidden
        h = rms_norm(hidden, weights[prefix + "input_layernorm.weight"], eps)
        hidden = residual + self_attention(config, weights, prefix + "self_attn.", h, cos, sin, allowed)
        residual = hidden
        h = rms_norm(hidden, weights[prefix + "post_attention_layernorm.weight"], eps)
        hidden = residual + mlp(config, weights, prefix + "mlp.", h)
    hidden = rms_norm(hidden, weights["model.norm.weight"], eps)
    return hidden @ lm_head_weight(config, weights).T


def lm_head_weight(config, weights):
    if tie_word_embeddings(config):
        return weights["model.embed_tokens.weight"]
    return weights["lm_head.weight"]


def causal_lm_loss(logits, labels):
    """HF ForCausalLMLoss: position t predicts labels[t + 1]; -100 is ignored; mean over the
    counted tokens (reduction 'mean' of cross_entropy with ignore_index)."""
    labels = np.asarray(labels, dtype=np.int64)
    shifted = np.concatenate([labels[:, 1:], np.full((labels.shape[0], 1), IGNORE_INDEX)], axis=1)
    flat_logits = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    flat_labels = shifted.reshape(-1)
    counted = flat_labels != IGNORE_INDEX
    if not counted.any():
        return float("nan")  # torch's mean over zero elements
    rows = flat_logits[counted]
    top = rows.max(axis=-1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(rows - top).sum(axis=-1))
    picked = rows[np.arange(rows.shape[0]), flat_labels[counted]]
    return float(np.mean(log_z - picked))


def greedy_generate(config, weights, prompt, new_tokens):
    """Greedy continuation by full recomputation each step (no KV cache); returns (tokens,
    margins) where margins[i] is the top-1 minus top-2 logit at step i."""
    sequence = list(int(t) for t in prompt)
    tokens, margins = [], []
    for _ in range(new_tokens):
        last = forward(config, weights, np.array([sequence]))[0, -1]
        order = np.argsort(-last, kind="stable")
        tokens.append(int(order[0]))
        margins.append(float(last[order[0]] - last[order[1]]))
        sequence.append(int(order[0]))
    return tokens, margins


# --------------------------------------------------------------------------------------------
# Loading a HF model folder
# --------------------------------------------------------------------------------------------


def load_model(folder):
    """(config dict, {name: float64 array}) from config.json + model.safetensors."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    tensors, _ = read_safetensors(folder / "model.safetensors")
    weights = {name: array.astype(np.float64) for name, array in tensors.items()}
    if tie_word_embeddings(config) and "lm_head.weight" in weights:
        raise ValueError("tied model must not carry lm_head.weight")
    return config, weights


def check_fixture(folder, rtol=1e-5, atol=1e-5):
    """Recompute a fixture folder and compare with its expected.safetensors; returns problems."""
    config, weights = load_model(folder)
    expected, _ = read_safetensors(Path(folder) / "expected.safetensors")
    problems = []
    logits = forward(config, weights, expected["input_ids"], expected["attention_mask"])
    if not np.allclose(logits.astype(np.float32), expected["logits"], rtol=rtol, atol=atol):
        diff = np.max(np.abs(logits - expected["logits"]))
        problems.append(f"logits differ (max abs diff {diff:.3g})")
    loss = causal_lm_loss(logits, expected["labels"])
    if not np.isclose(loss, float(expected["loss"]), rtol=rtol, atol=atol):
        problems.append(f"loss {loss} != {float(expected['loss'])}")
    tokens, _ = greedy_generate(config, weights, expected["greedy_prompt"], len(expected["greedy_tokens"]))
    if tokens != [int(t) for t in expected["greedy_tokens"]]:
        problems.append(f"greedy {tokens} != {expected['greedy_tokens'].tolist()}")
    return problems


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    failed = 0
    for folder in argv:
        problems = check_fixture(folder)
        print(f"{folder}: {'ok' if not problems else '; '.join(problems)}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
