#!/usr/bin/python3
"""Generate the tiny golden HF model folders under tests/data/models/.

Each variant becomes tests/data/models/<variant>/ with
  config.json           as transformers' save_pretrained writes it (sorted keys, indent 2)
  model.safetensors     HF tensor names, F32 or BF16, lm_head.weight omitted when tied
  expected.safetensors  input_ids, attention_mask, labels, logits, loss, greedy_prompt, greedy_tokens
The expected values are computed by hf_llama_reference.py from the files just written (read back
from disk), in float64, and stored as float32 / int64.

Families: Llama, Mistral, Qwen2 (the first six variants), Qwen3, Gemma3 (Gemma3ForCausalLM and
Gemma3ForConditionalGeneration), Gemma2, SmolLM3 and Phi3. Every variant is checked to exercise
what its name promises: `feature_checks` switches each feature off (or applies a wrong reading of
the config) and asserts that the logits move; tests/data/models/README.md lists the measured sizes.

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
LAYER_TYPES_VERSION = "4.55.4"  # 4.53+ configs write layer_types; 4.56 renamed torch_dtype to dtype
GEMMA3_VERSION = "4.50.0"  # the release Gemma 3 came with; the Hub checkpoints were saved by it
BOS, EOS, PAD = 1, 2, 0
GEMMA_BOS, GEMMA_EOS = 2, 1  # Gemma's own ids (its config classes' defaults); PAD 0 as well
BOS_OR_EOS = (1, 2)  # the later six fixtures keep both ids out of their greedy continuation
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


def qwen3_config(hidden, intermediate, heads, kv_heads, head_dim, vocab, layers, sliding_window, max_window_layers,
                 use_sliding_window=True, rope_theta=1000000.0, eps=1e-6, max_positions=512):
    """Qwen3Config as 4.53 - 4.55 save it: every attribute (none is in the base class), layer_types
    derived in __init__, sliding_window nulled unless use_sliding_window."""
    config = _common("Qwen3ForCausalLM", "qwen3", hidden, intermediate, layers, heads, kv_heads, vocab, "float32",
                     False, rope_theta, eps)
    window = sliding_window if use_sliding_window else None
    config.update({
        "head_dim": head_dim, "max_position_embeddings": max_positions, "rope_scaling": None,
        "attention_bias": False, "use_sliding_window": use_sliding_window, "sliding_window": window,
        "max_window_layers": max_window_layers,
        "layer_types": ["sliding_attention" if window is not None and i >= max_window_layers else "full_attention"
                        for i in range(layers)],
        "transformers_version": LAYER_TYPES_VERSION,
    })
    return config


def smollm3_config(hidden, intermediate, heads, kv_heads, vocab, layers, no_rope_layers, no_rope_layer_interval=4,
                   rope_theta=2000000.0, eps=1e-6, max_positions=512):
    """SmolLM3Config as 4.53 - 4.55 save it. Tied embeddings are SmolLM3's default (base-class
    default True), so to_diff_dict leaves tie_word_embeddings out of config.json."""
    config = _common("SmolLM3ForCausalLM", "smollm3", hidden, intermediate, layers, heads, kv_heads, vocab,
                     "float32", True, rope_theta, eps)
    del config["tie_word_embeddings"]
    config.update({
        "pad_token_id": PAD,  # differs from the class default 128004, so it is written
        "max_position_embeddings": max_positions, "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
        "use_sliding_window": False, "sliding_window": None, "no_rope_layers": no_rope_layers,
        "no_rope_layer_interval": no_rope_layer_interval, "layer_types": ["full_attention"] * layers,
        "transformers_version": LAYER_TYPES_VERSION,
    })
    return config


def phi3_config(hidden, intermediate, heads, kv_heads, vocab, layers, partial_rotary_factor, short_factor,
                long_factor, original_max_positions, max_positions, sliding_window, rope_theta=10000.0, eps=1e-5):
    """Phi3Config as 4.4x/4.5x save it (no head_dim key: hidden / heads). Its rope_scaling must be
    exactly {type, short_factor, long_factor} (Phi3Config._rope_scaling_validation reads "type")."""
    config = _common("Phi3ForCausalLM", "phi3", hidden, intermediate, layers, heads, kv_heads, vocab, "float32",
                     False, rope_theta, eps)
    config.update({
        "pad_token_id": PAD, "resid_pdrop": 0.0, "embd_pdrop": 0.0,
        "max_position_embeddings": max_positions, "original_max_position_embeddings": original_max_positions,
        "partial_rotary_factor": partial_rotary_factor, "sliding_window": sliding_window,
        "rope_scaling": {"long_factor": long_factor, "short_factor": short_factor, "type": "longrope"},
        "transformers_version": LAYER_TYPES_VERSION,
    })
    return config


def _gemma_common(arch, model_type, hidden, intermediate, layers, heads, kv_heads, head_dim, vocab, eps,
                  rope_theta, sliding_window, query_pre_attn_scalar, attn_softcap, final_softcap, version):
    """The keys Gemma2Config / Gemma3TextConfig write. Tied embeddings are the class default (and
    the base default), so tie_word_embeddings is not written."""
    return {
        "architectures": [arch], "model_type": model_type, "hidden_size": hidden, "intermediate_size": intermediate,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "head_dim": head_dim, "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 512,
        "rms_norm_eps": eps, "rope_theta": rope_theta, "attention_bias": False, "attention_dropout": 0.0,
        "query_pre_attn_scalar": query_pre_attn_scalar, "sliding_window": sliding_window,
        "final_logit_softcapping": final_softcap, "attn_logit_softcapping": attn_softcap, "vocab_size": vocab,
        "initializer_range": 0.02, "use_cache": True, "torch_dtype": "float32", "bos_token_id": GEMMA_BOS,
        "eos_token_id": GEMMA_EOS, "pad_token_id": PAD, "transformers_version": version,
    }


def gemma2_config(hidden, intermediate, heads, kv_heads, head_dim, vocab, layers, sliding_window,
                  query_pre_attn_scalar, attn_softcap, final_softcap, rope_theta=10000.0, eps=1e-6):
    """Gemma2Config as 4.42 - 4.52 save it: no layer_types (layer i slides iff i is even), a
    cache_implementation key, no rope_scaling."""
    config = _gemma_common("Gemma2ForCausalLM", "gemma2", hidden, intermediate, layers, heads, kv_heads, head_dim,
                           vocab, eps, rope_theta, sliding_window, query_pre_attn_scalar, attn_softcap, final_softcap,
                           TRANSFORMERS_VERSION)
    config["cache_implementation"] = "hybrid"
    return config


def gemma3_text_config(hidden, intermediate, heads, kv_heads, head_dim, vocab, layer_types, sliding_window,
                       query_pre_attn_scalar, attn_softcap, final_softcap, rope_theta, rope_local_base_freq,
                       rope_scaling=None, eps=1e-6):
    """Gemma3TextConfig as 4.55 saves it (the google/gemma-3-270m layout): an explicit layer_types
    list, the private `_sliding_window_pattern` (6, the __init__ default; not read back when
    layer_types is set), use_bidirectional_attention, no cache_implementation."""
    config = _gemma_common("Gemma3ForCausalLM", "gemma3_text", hidden, intermediate, len(layer_types), heads,
                           kv_heads, head_dim, vocab, eps, rope_theta, sliding_window, query_pre_attn_scalar,
                           attn_softcap, final_softcap, LAYER_TYPES_VERSION)
    config.update({"layer_types": layer_types, "_sliding_window_pattern": 6, "rope_scaling": rope_scaling,
                   "rope_local_base_freq": rope_local_base_freq, "use_bidirectional_attention": False})
    return config


def gemma3_conditional_config(text_diff, vision_diff, mm_tokens_per_image, dtype="bfloat16"):
    """Gemma3Config as 4.50 saves it: to_diff_dict writes text_config/vision_config with only the
    keys that differ from Gemma3TextConfig() / SiglipVisionConfig() (plus model_type); tied
    embeddings are the default at both levels, so no tie_word_embeddings and no lm_head tensor."""
    return {
        "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
        "boi_token_index": 255999, "eoi_token_index": 256000, "image_token_index": 262144,
        "initializer_range": 0.02, "mm_tokens_per_image": mm_tokens_per_image,
        "text_config": dict(text_diff, model_type="gemma3_text"),
        "vision_config": dict(vision_diff, model_type="siglip_vision_model"),
        "torch_dtype": dtype, "transformers_version": GEMMA3_VERSION,
    }


def config_json(config):
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------------------------
# Weights: an ordered list of (HF name, shape, init) per family, drawn from one RandomState
# --------------------------------------------------------------------------------------------


def weight_specs(config):
    """[(name, shape, init)] in draw order. init is a key of `draw` below, or a list of
    (rows, init) parts stacked along axis 0 (Phi3's fused qkv_proj: q rows, k rows, v rows)."""
    text = ref.text_config(config)
    model_type = text["model_type"]
    hidden, inter, vocab = text["hidden_size"], text["intermediate_size"], text["vocab_size"]
    heads, kv_heads = text["num_attention_heads"], text.get("num_key_value_heads") or text["num_attention_heads"]
    dim = ref.head_dim_of(config)
    qkv_bias, o_bias, mlp_bias = ref.attention_biases(config)
    gemma = model_type in ("gemma2", "gemma3_text")
    norm = "gemma_norm" if gemma else "norm"
    prefix = "language_model.model." if config["model_type"] == "gemma3" else "model."

    specs = [(prefix + "embed_tokens.weight", (vocab, hidden), "embed")]
    for layer in range(text["num_hidden_layers"]):
        p = f"{prefix}layers.{layer}."
        specs.append((p + "input_layernorm.weight", hidden, norm))
        if model_type == "phi3":
            specs.append((p + "self_attn.qkv_proj.weight", hidden,
                          [(heads * dim, "qk"), (kv_heads * dim, "qk"), (kv_heads * dim, "proj")]))
        else:
            for name, rows, init in (("q_proj", heads * dim, "qk"), ("k_proj", kv_heads * dim, "qk"),
                                     ("v_proj", kv_heads * dim, "proj")):
                specs.append((p + f"self_attn.{name}.weight", (rows, hidden), init))
                if qkv_bias:
                    specs.append((p + f"self_attn.{name}.bias", rows, "bias"))
        if model_type in ("qwen3", "gemma3_text"):
            init = "gemma_qk_norm" if gemma else "qk_norm"
            specs += [(p + "self_attn.q_norm.weight", dim, init), (p + "self_attn.k_norm.weight", dim, init)]
        specs.append((p + "self_attn.o_proj.weight", (hidden, heads * dim), "proj"))
        if o_bias:
            specs.append((p + "self_attn.o_proj.bias", hidden, "bias"))
        specs.append((p + "post_attention_layernorm.weight", hidden, norm))
        if gemma:
            specs.append((p + "pre_feedforward_layernorm.weight", hidden, norm))
        if model_type == "phi3":
            specs.append((p + "mlp.gate_up_proj.weight", (2 * inter, hidden), "proj"))  # gate rows, then up rows
            specs.append((p + "mlp.down_proj.weight", (hidden, inter), "proj"))
        else:
            for name, shape in (("gate_proj", (inter, hidden)), ("up_proj", (inter, hidden)),
                                ("down_proj", (hidden, inter))):
                specs.append((p + f"mlp.{name}.weight", shape, "proj"))
                if mlp_bias:
                    specs.append((p + f"mlp.{name}.bias", shape[0], "bias"))
        if gemma:
            specs.append((p + "post_feedforward_layernorm.weight", hidden, norm))
    specs.append((prefix + "norm.weight", hidden, norm))
    if not ref.tie_word_embeddings(config):
        specs.append(("lm_head.weight", (vocab, hidden), "head"))
    if config["model_type"] == "gemma3":
        # A few small tensors of the vision tower and projector, never read by the text path.
        vision = config["vision_config"]
        width, channels, patch = vision["hidden_size"], 3, vision["patch_size"]
        patches = (vision["image_size"] // patch) ** 2
        v = "vision_tower.vision_model."
        specs += [(v + "embeddings.patch_embedding.weight", (width, channels, patch, patch), "vision"),
                  (v + "embeddings.patch_embedding.bias", width, "vision"),
                  (v + "embeddings.position_embedding.weight", (patches, width), "vision"),
                  (v + "post_layernorm.weight", width, "norm"),
                  (v + "post_layernorm.bias", width, "vision"),
                  ("multi_modal_projector.mm_input_projection_weight", (width, hidden), "vision"),
                  ("multi_modal_projector.mm_soft_emb_norm.weight", width, "gemma_norm")]
    return specs


def make_weights(config, rng, scales):
    def draw(shape, init):
        if isinstance(init, list):
            return np.concatenate([draw((rows, shape), part) for rows, part in init], axis=0)
        if init == "norm":
            return 1.0 + rng.normal(0.0, 0.1, shape)
        if init == "gemma_norm":  # stored as the offset from 1 (Gemma multiplies by 1 + w)
            return rng.normal(0.0, scales["gemma_norm"], shape)
        if init == "qk_norm":
            return scales["qk_norm_mean"] + rng.normal(0.0, scales["qk_norm_std"], shape)
        if init == "gemma_qk_norm":
            return scales["qk_norm_mean"] - 1.0 + rng.normal(0.0, scales["qk_norm_std"], shape)
        return rng.normal(0.0, scales[init], shape)

    return {name: draw(shape, init) for name, shape, init in weight_specs(config)}


def storage_tensors(weights, dtype):
    if dtype == "float32":
        return {k: v.astype(np.float32) for k, v in weights.items()}
    if dtype == "bfloat16":
        return {k: ref.Bf16(ref.f32_to_bf16_bits(v.astype(np.float32))) for k, v in weights.items()}
    raise ValueError(dtype)


# --------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------

DEFAULT_SCALES = {"embed": 0.5, "qk": 0.15, "proj": 0.08, "bias": 0.1, "head": 0.12, "gemma_norm": 0.1,
                  "qk_norm_mean": 1.0, "qk_norm_std": 0.1, "vision": 0.05}

# Phi3 longrope factors for rotary dim 12 (6 frequencies): short ~1, long growing towards the low
# frequencies, as in the Phi-3.5 / Phi-4-mini checkpoints (there with 48 / 64 entries).
PHI3_SHORT_FACTOR = [1.0, 1.05, 1.1, 1.2, 1.35, 1.5]
PHI3_LONG_FACTOR = [1.0, 1.4, 2.2, 3.6, 5.5, 8.0]

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
    {
        "name": "qwen3_qknorm_window",
        "avoid": BOS_OR_EOS,
        "summary": "Qwen3ForCausalLM, per-head q_norm/k_norm before RoPE, head_dim 16 != hidden/heads 12, GQA 4/2, "
                   "use_sliding_window with window 16 on layers >= max_window_layers 1 (layer_types written)",
        "seed": 1007,
        "seq_len": 64,
        "scales": {"qk_norm_mean": 1.6, "qk_norm_std": 0.3},
        "config": qwen3_config(hidden=48, intermediate=96, heads=4, kv_heads=2, head_dim=16, vocab=128, layers=3,
                               sliding_window=16, max_window_layers=1),
    },
    {
        "name": "gemma3_text_softcap_layer_types",
        "avoid": BOS_OR_EOS,
        "summary": "Gemma3ForCausalLM, sandwich norms, (1+w) RMSNorm, gelu-tanh, q/k norm, embeddings x sqrt(48), "
                   "explicit layer_types (full, sliding, sliding), local RoPE base 100 vs global 1e4, "
                   "query_pre_attn_scalar 32, final soft-cap 3 (applied), attn soft-cap 8 (present, ignored by HF "
                   "Gemma3), MQA, tied",
        "seed": 1008,
        "seq_len": 64,
        "bos": GEMMA_BOS,
        "scales": {"embed": 0.1, "qk_norm_mean": 2.2, "qk_norm_std": 0.3},
        "config": gemma3_text_config(hidden=48, intermediate=96, heads=4, kv_heads=1, head_dim=24, vocab=160,
                                     layer_types=["full_attention", "sliding_attention", "sliding_attention"],
                                     sliding_window=20, query_pre_attn_scalar=32, attn_softcap=8.0,
                                     final_softcap=3.0, rope_theta=10000.0, rope_local_base_freq=100.0),
    },
    {
        "name": "gemma3_conditional_bf16",
        "avoid": BOS_OR_EOS,
        "summary": "Gemma3ForConditionalGeneration (text path), BF16, weights under language_model.model., unused "
                   "vision_tower./multi_modal_projector. tensors, text_config with only non-default keys "
                   "(sliding_window_pattern 2, linear rope_scaling x8; query_pre_attn_scalar, rope_theta, "
                   "rope_local_base_freq, hidden_activation, rms_norm_eps from Gemma3TextConfig defaults)",
        "seed": 1009,
        "seq_len": 64,
        "bos": GEMMA_BOS,
        "scales": {"embed": 0.1, "qk_norm_mean": 2.5, "qk_norm_std": 0.3},
        "config": gemma3_conditional_config(
            text_diff={"head_dim": 16, "hidden_size": 48, "intermediate_size": 96, "num_attention_heads": 4,
                       "num_hidden_layers": 3, "num_key_value_heads": 2, "sliding_window": 16,
                       "sliding_window_pattern": 2, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                       "vocab_size": 144},
            vision_diff={"hidden_size": 16, "image_size": 8, "intermediate_size": 32, "num_attention_heads": 2,
                         "num_hidden_layers": 1, "patch_size": 4, "vision_use_head": False},
            mm_tokens_per_image=4),
    },
    {
        "name": "gemma2_softcap_alternating",
        "avoid": BOS_OR_EOS,
        "summary": "Gemma2ForCausalLM, sandwich norms, attention soft-cap 6 and final soft-cap 2.5, layers "
                   "sliding/full/sliding derived from the layer index (no layer_types key), window 16, "
                   "query_pre_attn_scalar 12 != head_dim 16, embeddings x sqrt(48), tied",
        "seed": 1010,
        "seq_len": 64,
        "bos": GEMMA_BOS,
        "scales": {"embed": 0.1, "qk": 0.3},
        "config": gemma2_config(hidden=48, intermediate=96, heads=4, kv_heads=2, head_dim=16, vocab=128, layers=3,
                                sliding_window=16, query_pre_attn_scalar=12, attn_softcap=6.0, final_softcap=2.5),
    },
    {
        "name": "smollm3_no_rope_layers",
        "avoid": BOS_OR_EOS,
        "summary": "SmolLM3ForCausalLM, no_rope_layers [1, 0, 1] (layer 1 is NoPE; the interval-4 default would "
                   "give [1, 1, 1]), GQA 4/2, rope_theta 2e6, tied without a tie_word_embeddings key",
        "seed": 1011,
        "seq_len": 64,
        "scales": {"embed": 0.1, "proj": 0.2},
        "config": smollm3_config(hidden=64, intermediate=128, heads=4, kv_heads=2, vocab=128, layers=3,
                                 no_rope_layers=[1, 0, 1]),
    },
    {
        "name": "phi3_fused_longrope",
        "avoid": BOS_OR_EOS,
        "summary": "Phi3ForCausalLM, fused qkv_proj and gate_up_proj, partial_rotary_factor 0.75 (RoPE on 12 of 16 "
                   "dims), longrope with original_max_position_embeddings 32 < T 64 (long factors) and "
                   "max_position_embeddings 128 (attention factor sqrt(1.4)), sliding_window 24, GQA 4/2",
        "seed": 1012,
        "seq_len": 64,
        "config": phi3_config(hidden=64, intermediate=128, heads=4, kv_heads=2, vocab=128, layers=2,
                              partial_rotary_factor=0.75, short_factor=PHI3_SHORT_FACTOR,
                              long_factor=PHI3_LONG_FACTOR, original_max_positions=32, max_positions=128,
                              sliding_window=24),
    },
]

PAD_TOKENS = 4  # row 1 is right-padded with this many tokens
PROMPT_LABELS = 3  # labels of the first tokens of each row are -100 ("prompt")


def make_inputs(config, rng, seq_len, bos=BOS):
    vocab = ref.text_config(config)["vocab_size"]
    ids = rng.randint(3, vocab, size=(2, seq_len)).astype(np.int64)
    ids[:, 0] = bos
    mask = np.ones((2, seq_len), dtype=np.int64)
    mask[1, seq_len - PAD_TOKENS:] = 0
    ids[1, seq_len - PAD_TOKENS:] = PAD
    labels = ids.copy()
    labels[:, :PROMPT_LABELS] = ref.IGNORE_INDEX
    labels[mask == 0] = ref.IGNORE_INDEX
    return ids, mask, labels


def pick_greedy_prompt(config, weights, rng, bos=BOS, avoid=(EOS,)):
    """First prompt from the stream whose greedy continuation is varied, avoids the `avoid` tokens
    (EOS) and has clear top-1 margins (so float32 engines agree with the float64 reference)."""
    vocab = ref.text_config(config)["vocab_size"]
    for _ in range(200):
        prompt = np.concatenate([[bos], rng.randint(3, vocab, GREEDY_PROMPT_LEN - 1)]).astype(np.int64)
        tokens, margins = ref.greedy_generate(config, weights, prompt, GREEDY_NEW_TOKENS)
        if set(avoid) & set(tokens) or min(margins) < MIN_GREEDY_MARGIN or len(set(tokens)) < 4:
            continue
        return prompt, np.array(tokens, dtype=np.int64), min(margins)
    raise RuntimeError(f"no usable greedy prompt for {config['architectures'][0]}")


# --------------------------------------------------------------------------------------------
# Self-checks: each fixture must actually exercise what its name promises
# --------------------------------------------------------------------------------------------


def _max_diff(config_a, config_b, weights, ids, mask, weights_b=None):
    a = ref.forward(config_a, weights, ids, mask)
    b = ref.forward(config_b, weights if weights_b is None else weights_b, ids, mask)
    return float(np.max(np.abs(a - b)))


DROP = object()  # as a value in with_text: remove the key


def with_text(config, **changes):
    """A copy of config with decoder keys changed (inside text_config for Gemma3ForConditionalGeneration);
    the value `DROP` removes the key."""
    config = copy.deepcopy(config)
    target = config["text_config"] if config["model_type"] == "gemma3" else config
    for key, value in changes.items():
        if value is DROP:
            target.pop(key, None)
        else:
            target[key] = value
    return config



def ablate(config, *names):
    return dict(config, _ablate=set(names))


def swap_rows(weights, suffix, parts):
    """Weights with the row blocks of every tensor ending in `suffix` reordered: parts is a list of
    (start, stop) row ranges in the new order."""
    swapped = dict(weights)
    for name, value in weights.items():
        if name.endswith(suffix):
            swapped[name] = np.concatenate([value[a:b] for a, b in parts], axis=0)
    return swapped


def feature_checks(variant, config, weights, ids, mask, stored):
    notes = []
    name = variant["name"]
    seq_len = ids.shape[1]
    text = ref.text_config(config)
    model_type = text["model_type"]

    def differs(label, other, threshold=1e-2, other_weights=None):
        d = _max_diff(config, other, weights, ids, mask, other_weights)
        assert d > threshold, f"{name}: {label} changes logits by only {d:.3g}"
        notes.append(f"{label}: max |dlogit| {d:.3g}")
        return d

    if config["model_type"] in ("llama", "mistral", "qwen2"):
        _llama_family_checks(name, config, weights, ids, mask, seq_len, differs, notes)
    elif model_type == "qwen3":
        window = text["sliding_window"]
        assert text["layer_types"] == ref.layer_types_of(with_text(config, layer_types=DROP)), name
        assert ref.resolve(config).windows == [None, window, window], ref.resolve(config).windows
        differs("q/k norm skipped", ablate(config, "qk_norm"))
        differs("sliding window off (use_sliding_window false)", with_text(config, use_sliding_window=False))
        differs(f"window {window} also on layer 0 (4.51/4.52 eager/SDPA mask)", ablate(config, "window_all_layers"))
        differs(f"window {window} vs {window + 1}", with_text(config, sliding_window=window + 1))
        differs(f"window {window} vs {window - 1}", with_text(config, sliding_window=window - 1))
    elif model_type == "gemma3_text" and config["model_type"] == "gemma3_text":
        _gemma3_text_checks(config, text, weights, ids, mask, differs, notes)
    elif config["model_type"] == "gemma3":
        _gemma3_conditional_checks(name, config, text, stored, differs, notes)
    elif model_type == "gemma2":
        assert "layer_types" not in config, name
        assert ref.layer_types_of(config) == ["sliding_attention", "full_attention", "sliding_attention"]
        differs("attention soft-cap off", with_text(config, attn_logit_softcapping=None))
        differs("final soft-cap off", with_text(config, final_logit_softcapping=None))
        differs("sliding window off", with_text(config, sliding_window=None))
        differs("layer 0 full instead of sliding (full, sliding, full)",
                with_text(config, layer_types=["full_attention", "sliding_attention", "full_attention"]))
        differs("scale head_dim^-0.5 instead of query_pre_attn_scalar^-0.5",
                with_text(config, query_pre_attn_scalar=text["head_dim"]))
        differs("embeddings not scaled by sqrt(hidden)", ablate(config, "embed_scale"))
        differs("norm weight w instead of (1 + w)", ablate(config, "gemma_norm_no_offset"))
        raw = max_attention_score(with_text(config, attn_logit_softcapping=None), weights, ids, mask)
        notes.append(f"attention scores up to {raw:.1f} before the cap {text['attn_logit_softcapping']}")
    elif model_type == "smollm3":
        assert "tie_word_embeddings" not in config and "lm_head.weight" not in stored, name
        differs("no_rope_layers ignored (RoPE on every layer; the interval-4 default)",
                with_text(config, no_rope_layers=DROP))
        differs("no_rope_layers read as 1 = NoPE", ablate(config, "no_rope_inverted"))
    elif model_type == "phi3":
        _phi3_checks(variant, config, text, weights, differs, notes)

    if ref.head_dim_of(config) != text["hidden_size"] // text["num_attention_heads"]:
        notes.append(f"head_dim {ref.head_dim_of(config)} != hidden/heads "
                     f"{text['hidden_size'] // text['num_attention_heads']}")
    if ref.tie_word_embeddings(config):
        assert "lm_head.weight" not in stored and "language_model.lm_head.weight" not in stored, \
            f"{name}: tied model wrote lm_head.weight"
    qkv_bias, o_bias, mlp_bias = ref.attention_biases(config)
    prefix = "language_model.model." if config["model_type"] == "gemma3" else "model."
    if model_type != "phi3":
        for flag, key in ((qkv_bias, "layers.0.self_attn.q_proj.bias"), (o_bias, "layers.0.self_attn.o_proj.bias"),
                          (mlp_bias, "layers.0.mlp.up_proj.bias")):
            assert flag == (prefix + key in stored), f"{name}: {key} presence does not match the config"
    dtype = config.get("torch_dtype")
    if dtype == "bfloat16":
        for key, value in weights.items():
            bits = ref.f32_to_bf16_bits(value.astype(np.float32))
            assert np.array_equal(ref.bf16_bits_to_f32(bits).astype(np.float64), value), key
        notes.append("all weights are exact bf16 values")
    return notes


def _llama_family_checks(name, config, weights, ids, mask, seq_len, differs, notes):
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


def _gemma3_text_checks(config, text, weights, ids, mask, differs, notes):
    differs("final soft-cap off", with_text(config, final_logit_softcapping=None))
    differs("attn_logit_softcapping 8 applied (HF Gemma3 never applies it)", ablate(config, "gemma3_attn_softcap"),
            threshold=1e-3)
    differs("q/k norm skipped", ablate(config, "qk_norm"))
    differs("embeddings not scaled by sqrt(hidden)", ablate(config, "embed_scale"))
    differs("norm weight w instead of (1 + w)", ablate(config, "gemma_norm_no_offset"))
    differs("sliding layers with the global RoPE (rope_local_base_freq ignored)", ablate(config, "local_rope"))
    derived = with_text(config, layer_types=DROP)
    assert ref.layer_types_of(derived) == ["sliding_attention"] * 3
    differs("layer types from _sliding_window_pattern 6 instead of layer_types (all sliding)", derived)
    differs("scale head_dim^-0.5 instead of query_pre_attn_scalar^-0.5",
            with_text(config, query_pre_attn_scalar=text["head_dim"]))
    differs("sliding window off", with_text(config, sliding_window=None))
    notes.append(f"attention scores up to {max_attention_score(config, weights, ids, mask):.1f} "
                 f"(attn_logit_softcapping {text['attn_logit_softcapping']})")


def _gemma3_conditional_checks(name, config, text, stored, differs, notes):
    diff = config["text_config"]
    for key in ("query_pre_attn_scalar", "rope_local_base_freq", "hidden_activation", "rope_theta", "rms_norm_eps",
                "final_logit_softcapping", "attn_logit_softcapping", "tie_word_embeddings", "bos_token_id"):
        assert key not in diff, f"{name}: text_config must leave {key} to the class default"
    assert any(k.startswith("language_model.model.layers.0.") for k in stored), name
    assert any(k.startswith("vision_tower.") for k in stored) and any(
        k.startswith("multi_modal_projector.") for k in stored), name
    assert not any(k.startswith("model.") or "lm_head" in k for k in stored), name
    assert ref.layer_types_of(config) == ["sliding_attention", "full_attention", "sliding_attention"]
    differs("query_pre_attn_scalar = head_dim instead of the default 256",
            with_text(config, query_pre_attn_scalar=text["head_dim"]))
    differs("sliding_window_pattern default 6 instead of 2 (all sliding)", with_text(config, sliding_window_pattern=DROP))
    differs("linear rope_scaling x8 on the full layer off", with_text(config, rope_scaling=None))
    differs("sliding layers with the global RoPE (rope_local_base_freq ignored)", ablate(config, "local_rope"))
    differs("embeddings not scaled by sqrt(hidden)", ablate(config, "embed_scale"))
    differs("q/k norm skipped", ablate(config, "qk_norm"))


def _phi3_checks(variant, config, text, weights, differs, notes):
    original = text["original_max_position_embeddings"]
    seq_len = variant["seq_len"]
    assert seq_len > original >= GREEDY_PROMPT_LEN + GREEDY_NEW_TOKENS - 1
    spec = ref.rope_spec_for_layer(config, 0)
    _, attention_factor = ref.longrope_factor_and_scale(spec)
    notes.append(f"rotary dim {spec['dim']} of head_dim {ref.head_dim_of(config)}; attention factor "
                 f"{attention_factor:.6f}; main sequence uses long factors, greedy (<= {GREEDY_PROMPT_LEN + GREEDY_NEW_TOKENS - 1}"
                 f" positions) short ones")
    scaling = text["rope_scaling"]
    short_only = with_text(config, rope_scaling=dict(scaling, long_factor=scaling["short_factor"]))
    differs("short factors on the main sequence (long factors ignored)", short_only)
    differs("attention factor 1 instead of sqrt(1 + ln 4 / ln 32)",
            with_text(config, rope_scaling=dict(scaling, attention_factor=1.0)))
    differs("sliding window off", with_text(config, sliding_window=None))
    dim, heads, kv = ref.head_dim_of(config), text["num_attention_heads"], text["num_key_value_heads"]
    q, kvw = heads * dim, kv * dim
    differs("k and v rows of qkv_proj swapped", config,
            other_weights=swap_rows(weights, "qkv_proj.weight", [(0, q), (q + kvw, q + 2 * kvw), (q, q + kvw)]))
    inter = text["intermediate_size"]
    differs("gate and up halves of gate_up_proj swapped", config,
            other_weights=swap_rows(weights, "gate_up_proj.weight", [(inter, 2 * inter), (0, inter)]))
    long_only = with_text(config, rope_scaling=dict(scaling, short_factor=scaling["long_factor"]))
    prompt = np.arange(3, 3 + GREEDY_PROMPT_LEN + GREEDY_NEW_TOKENS - 1)[None, :]
    d = float(np.max(np.abs(ref.forward(config, weights, prompt)[0, -1] - ref.forward(long_only, weights, prompt)[0, -1])))
    assert d > 1e-2, f"long factors on a short sequence change its logits by only {d:.3g}"
    notes.append(f"long factors on a {prompt.shape[1]}-token sequence (wrong): max |dlogit| {d:.3g}")


def max_attention_score(config, weights, ids, mask):
    """Largest |pre-mask attention score| over the layers for the fixture's main input."""
    seen = []
    original = ref.softmax

    def recording_softmax(x, axis=-1):
        seen.append(float(np.max(np.abs(x[np.isfinite(x)]))))
        return original(x, axis)

    ref.softmax = recording_softmax
    try:
        ref.forward(config, weights, ids, mask)
    finally:
        ref.softmax = original
    return max(seen)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def build_variant(variant, out_dir):
    config = copy.deepcopy(variant["config"])
    scales = dict(DEFAULT_SCALES, **variant.get("scales", {}))
    rng = np.random.RandomState(variant["seed"])
    folder = out_dir / variant["name"]
    folder.mkdir(parents=True, exist_ok=True)
    bos = variant.get("bos", BOS)
    avoid = variant.get("avoid", (EOS,))

    raw = make_weights(config, rng, scales)
    stored = storage_tensors(raw, config["torch_dtype"])
    (folder / "config.json").write_text(config_json(config))
    ref.write_safetensors(folder / "model.safetensors", stored, metadata={"format": "pt"})

    # Everything below uses the weights as read back from disk.
    config, weights = ref.load_model(folder)
    ids, mask, labels = make_inputs(config, rng, variant["seq_len"], bos)
    logits = ref.forward(config, weights, ids, mask)
    loss = ref.causal_lm_loss(logits, labels)
    prompt, greedy, margin = pick_greedy_prompt(config, weights, rng, bos, avoid)
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
    text = ref.text_config(config)
    print(f"{variant['name']}: {variant['summary']}")
    print(f"  hidden {text['hidden_size']} inter {text['intermediate_size']} heads "
          f"{text['num_attention_heads']}/{text['num_key_value_heads']} head_dim {ref.head_dim_of(config)} "
          f"vocab {text['vocab_size']} layers {text['num_hidden_layers']} T {ids.shape[1]}; {size} bytes")
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
