#!/usr/bin/python3
"""Independent numpy reference of the Hugging Face causal-LM forward pass (Llama family and relatives).

What it is for: the golden fixtures under tests/data/models/ are computed with this module, and
the C++ engine is checked against them. It re-derives, in plain numpy, the formulas of
transformers' LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM,
SmolLM3ForCausalLM, Phi3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM and the text path of
Gemma3ForConditionalGeneration (their modeling_*.py / configuration_*.py, modeling_rope_utils.py,
masking_utils.py, loss/loss_utils.py). No transformers or torch code is used or imported, so the
reference does not share a single line with LibTorch or with HF.

Layout: hf_arch.py interprets config.json (class defaults, nested text_config, per-layer window and
RoPE, family switches) into an `Arch`; this module holds safetensors I/O, the building blocks, one
decoder block per family (`llama_block`: pre-norm; `gemma_block`: sandwich norms), the model,
loss, greedy decoding and the fixture check.

Intended usage:
    config, weights = load_model("tests/data/models/llama_mha_untied")
    logits = forward(config, weights, input_ids, attention_mask)      # float64 [B, T, V]
    loss = causal_lm_loss(logits, labels)
    tokens = greedy_generate(config, weights, prompt, 8)

or, from the shell, re-check fixture folders against their expected.safetensors:
    /usr/bin/python3 tests/reference/hf_llama_reference.py tests/data/models/*/

Everything is computed in float64 (weights are upcast on load). Where HF deliberately casts
(RMSNorm variance and softmax in float32, then back to the activation dtype), the same order is
kept, with "float32" read as "at least float32": a float64 activation stays float64 here (HF's
`.to(torch.float32)` would round it; the difference is far below any test tolerance). The one
deliberate rounding is Gemma's embedding scale sqrt(hidden_size), taken in the weights' dtype
(bfloat16 for a BF16 checkpoint) as HF's `embed_scale.to(weight.dtype)` does.
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
# Config interpretation lives in hf_arch.py; these names are re-exported for the generator.
# --------------------------------------------------------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_arch import (  # noqa: E402, F401  (re-exported for the generator)
    ABLATIONS,
    CLASS_DEFAULTS,
    attention_biases,
    canonical_weight_name,
    head_dim_of,
    layer_types_of,
    llama3_bands,
    longrope_factor_and_scale,
    no_rope_layers_of,
    resolve,
    rope_frequencies,
    rope_inv_freq,
    rope_spec_for_layer,
    rope_type_of,
    round_to_dtype,
    sliding_window_for_layer,
    text_config,
    tie_word_embeddings,
)

# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def _at_least_f32(dtype):
    return np.promote_types(dtype, np.float32)


def rms_norm(x, weight, eps):
    """Llama order: variance and normalisation in (at least) float32, cast back, then weight * x."""
    input_dtype = x.dtype
    h = x.astype(_at_least_f32(input_dtype))
    variance = np.mean(h * h, axis=-1, keepdims=True)
    h = h * (1.0 / np.sqrt(variance + eps))
    return weight * h.astype(input_dtype)


def gemma_rms_norm(x, weight, eps, offset=1.0):
    """Gemma order: normalise in (at least) float32, multiply by (1 + w) in float32, then cast back.
    The stored weight is the offset from 1 (HF initialises it to zeros)."""
    input_dtype = x.dtype
    h = x.astype(_at_least_f32(input_dtype))
    h = h * (1.0 / np.sqrt(np.mean(h * h, axis=-1, keepdims=True) + eps))
    return (h * (offset + weight.astype(h.dtype))).astype(input_dtype)


def norm(arch, x, weight):
    if arch.gemma:
        return gemma_rms_norm(x, weight, arch.eps, arch.norm_offset)
    return rms_norm(x, weight, arch.eps)


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    """gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def activation(arch, x):
    return silu(x) if arch.activation == "silu" else gelu_tanh(x)


def softcap(x, cap):
    return np.tanh(x / cap) * cap


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


def rope_cos_sin(spec, length):
    """cos/sin [T, rotary_dim] for positions 0..T-1 (cat(freqs, freqs)), times the attention factor
    of the rope type (longrope); None for a NoPE layer."""
    if spec is None:
        return None, None
    inv_freq, scale = rope_frequencies(spec, length)
    freqs = np.outer(np.arange(length, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb) * scale, np.sin(emb) * scale


def apply_rope(x, cos, sin):
    """x: [B, heads, T, D]; cos/sin: [T, R] with R <= D: the first R dims rotate, the rest pass."""
    if cos is None:
        return x
    rotary = cos.shape[-1]
    rot, rest = x[..., :rotary], x[..., rotary:]
    return np.concatenate([rot * cos + rotate_half(rot) * sin, rest], axis=-1)


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


def qkv_projections(arch, weights, prefix, x):
    """q [B,T,H*D], k and v [B,T,KV*D]. Phi3 stores one qkv_proj: q rows, then k rows, then v rows."""
    q_width, kv_width = arch.heads * arch.head_dim, arch.kv_heads * arch.head_dim
    if arch.fused:
        qkv = linear(x, weights, prefix + "qkv_proj", False)
        return qkv[..., :q_width], qkv[..., q_width:q_width + kv_width], qkv[..., q_width + kv_width:]
    return (linear(x, weights, prefix + "q_proj", arch.qkv_bias), linear(x, weights, prefix + "k_proj", arch.qkv_bias),
            linear(x, weights, prefix + "v_proj", arch.qkv_bias))


def self_attention(arch, weights, prefix, x, cos, sin, allowed):
    batch, length, _ = x.shape
    dim = arch.head_dim
    q, k, v = qkv_projections(arch, weights, prefix, x)
    q = q.reshape(batch, length, arch.heads, dim)
    k = k.reshape(batch, length, arch.kv_heads, dim)
    v = v.reshape(batch, length, arch.kv_heads, dim)
    if arch.qk_norm == "llama":  # Qwen3: RMSNorm over head_dim, per head, before RoPE
        q = rms_norm(q, weights[prefix + "q_norm.weight"], arch.eps)
        k = rms_norm(k, weights[prefix + "k_norm.weight"], arch.eps)
    elif arch.qk_norm == "gemma":  # Gemma3: (1 + w) norm over head_dim, per head, before RoPE
        q = gemma_rms_norm(q, weights[prefix + "q_norm.weight"], arch.eps, arch.norm_offset)
        k = gemma_rms_norm(k, weights[prefix + "k_norm.weight"], arch.eps, arch.norm_offset)
    q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))
    q = apply_rope(q, cos, sin)
    k = apply_rope(k, cos, sin)

    # GQA: query head h reads key/value head h // (heads / kv_heads) (repeat_kv order).
    group = arch.heads // arch.kv_heads
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)

    scores = (q @ k.transpose(0, 1, 3, 2)) * arch.scaling
    if arch.attn_softcap is not None:
        scores = softcap(scores, arch.attn_softcap)  # after the scaling, before the mask
    scores = np.where(allowed[:, None, :, :], scores, -np.inf)
    probs = softmax(scores, axis=-1)
    out = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, arch.heads * dim)
    return linear(out, weights, prefix + "o_proj", arch.o_bias)


def mlp(arch, weights, prefix, x):
    """Gated MLP: down(act(gate(x)) * up(x)). Phi3's gate_up_proj holds the gate rows first."""
    if arch.fused:
        gate_up = linear(x, weights, prefix + "gate_up_proj", False)
        half = gate_up.shape[-1] // 2
        gate, up = gate_up[..., :half], gate_up[..., half:]
    else:
        gate = linear(x, weights, prefix + "gate_proj", arch.mlp_bias)
        up = linear(x, weights, prefix + "up_proj", arch.mlp_bias)
    return linear(activation(arch, gate) * up, weights, prefix + "down_proj", arch.mlp_bias)


# --------------------------------------------------------------------------------------------
# Decoder blocks, one per family
# --------------------------------------------------------------------------------------------


def llama_block(arch, weights, p, hidden, cos, sin, allowed):
    """Pre-norm block (Llama, Mistral, Qwen2/3, SmolLM3, Phi3)."""
    h = norm(arch, hidden, weights[p + "input_layernorm.weight"])
    hidden = hidden + self_attention(arch, weights, p + "self_attn.", h, cos, sin, allowed)
    h = norm(arch, hidden, weights[p + "post_attention_layernorm.weight"])
    return hidden + mlp(arch, weights, p + "mlp.", h)


def gemma_block(arch, weights, p, hidden, cos, sin, allowed):
    """Sandwich block (Gemma2/3): post_attention_layernorm normalises the attention *output*
    before the residual add; pre/post_feedforward_layernorm wrap the MLP the same way."""
    h = norm(arch, hidden, weights[p + "input_layernorm.weight"])
    h = self_attention(arch, weights, p + "self_attn.", h, cos, sin, allowed)
    hidden = hidden + norm(arch, h, weights[p + "post_attention_layernorm.weight"])
    h = norm(arch, hidden, weights[p + "pre_feedforward_layernorm.weight"])
    h = mlp(arch, weights, p + "mlp.", h)
    return hidden + norm(arch, h, weights[p + "post_feedforward_layernorm.weight"])


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


def forward(config, weights, input_ids, attention_mask=None):
    """Logits [B, T, V] in float64. Positions are 0..T-1 for every row (HF's default when
    position_ids is not given), whatever the padding."""
    arch = resolve(config)
    input_ids = np.asarray(input_ids, dtype=np.int64)
    if input_ids.ndim == 1:
        input_ids = input_ids[None, :]
    batch, length = input_ids.shape
    if attention_mask is None:
        attention_mask = np.ones_like(input_ids)
    attention_mask = np.asarray(attention_mask)

    hidden = weights["model.embed_tokens.weight"][input_ids]
    if arch.embed_scale is not None:
        hidden = hidden * arch.embed_scale  # sqrt(hidden_size) rounded to the weights' dtype
    block = gemma_block if arch.gemma else llama_block
    tables = {}
    for layer in range(arch.layers):
        spec = arch.ropes[layer]
        key = repr(spec)
        if key not in tables:
            tables[key] = rope_cos_sin(spec, length)
        cos, sin = tables[key]
        allowed = attention_allowed(attention_mask, arch.windows[layer])
        hidden = block(arch, weights, f"model.layers.{layer}.", hidden, cos, sin, allowed)
    hidden = norm(arch, hidden, weights["model.norm.weight"])
    logits = hidden @ lm_head_weight(config, weights).T
    if arch.final_softcap is not None:
        logits = softcap(logits, arch.final_softcap)
    return logits


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
    """(config dict, {name: float64 array}) from config.json + model.safetensors. Tensor names are
    mapped onto the decoder names (model.*, lm_head.weight); tensors the text forward pass does not
    read (Gemma3's vision tower and projector) are dropped."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    tensors, _ = read_safetensors(folder / "model.safetensors")
    weights = {}
    for name, array in tensors.items():
        canonical = canonical_weight_name(config, name)
        if canonical is not None:
            weights[canonical] = array.astype(np.float64)
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
