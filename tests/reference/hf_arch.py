#!/usr/bin/python3
"""Config interpretation for the numpy reference: what each architecture reads from config.json.

`resolve(config)` turns a config dict (as json.loads gives it) into an `Arch`: the decoder's sizes
plus, per layer, the attention window and the RoPE table it uses, and the family switches (norm
style, sandwich norms, q/k norm, embedding scale, soft-caps, fused projections, biases). The forward
pass in hf_llama_reference.py only reads an `Arch`, never the raw config.

Supported model_type values and the transformers classes whose behaviour they follow (details and
the source files read are in tests/reference/README.md):
    llama, mistral, qwen2            LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM
    qwen3                            Qwen3ForCausalLM
    smollm3                          SmolLM3ForCausalLM
    phi3                             Phi3ForCausalLM (Phi-3.5-mini / Phi-4-mini layout)
    gemma2                           Gemma2ForCausalLM (eager attention)
    gemma3_text                      Gemma3ForCausalLM
    gemma3                           Gemma3ForConditionalGeneration, text path only

A config.json written by save_pretrained omits keys equal to the class defaults only inside nested
sub-configs (Gemma3's `text_config`) and for a few base-class keys (`tie_word_embeddings` when it
equals True and the class default is True). `CLASS_DEFAULTS` lists what this reference fills in.

A private key `_ablate` (a set of strings, never written to a fixture) switches single features off
or on for the generator's self-checks; see `ABLATIONS`.
"""

import math

import numpy as np

# Defaults of the transformers config classes (4.x keyword defaults) for the keys the forward pass
# reads. Only the families where a config.json may legitimately omit them are listed.
CLASS_DEFAULTS = {
    # Qwen3Config (4.51+): head_dim is a real attribute with default 128, not hidden / heads.
    "qwen3": {"head_dim": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "attention_bias": False,
              "use_sliding_window": False, "sliding_window": 4096, "max_window_layers": 28,
              "tie_word_embeddings": False, "hidden_act": "silu"},
    # SmolLM3Config (4.53+): no head_dim attribute (hidden / heads), tied by default (base default).
    "smollm3": {"rms_norm_eps": 1e-6, "rope_theta": 2000000.0, "attention_bias": False, "mlp_bias": False,
                "use_sliding_window": False, "sliding_window": None, "no_rope_layers": None,
                "no_rope_layer_interval": 4, "tie_word_embeddings": True, "hidden_act": "silu"},
    # Phi3Config (4.x): original_max_position_embeddings is always an attribute (default 4096).
    "phi3": {"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 4096,
             "original_max_position_embeddings": 4096, "partial_rotary_factor": 1.0, "sliding_window": None,
             "tie_word_embeddings": False, "hidden_act": "silu"},
    # Gemma2Config (4.42 - 4.52): both soft-caps are ON by default.
    "gemma2": {"head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "rms_norm_eps": 1e-6,
               "rope_theta": 10000.0, "attention_bias": False, "query_pre_attn_scalar": 256,
               "sliding_window": 4096, "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0,
               "tie_word_embeddings": True},
    # Gemma3TextConfig (4.50+). Also the defaults for a Gemma3Config text_config, whose
    # config.json carries only the keys that differ from these (plus model_type).
    "gemma3_text": {"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
                    "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                    "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
                    "max_position_embeddings": 131072, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
                    "attention_bias": False, "query_pre_attn_scalar": 256, "sliding_window": 4096,
                    "final_logit_softcapping": None, "attn_logit_softcapping": None, "rope_scaling": None,
                    "rope_local_base_freq": 10000.0, "sliding_window_pattern": 6,
                    "tie_word_embeddings": True, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2},
}

ABLATIONS = {
    "qk_norm": "skip the per-head q/k RMSNorm (Qwen3, Gemma3)",
    "embed_scale": "do not multiply the embeddings by sqrt(hidden_size) (Gemma)",
    "embed_scale_unrounded": "use sqrt(hidden_size) in float64 instead of rounded to the weights' dtype",
    "local_rope": "Gemma3 sliding layers use the global RoPE (rope_theta + rope_scaling)",
    "gemma3_attn_softcap": "apply attn_logit_softcapping in Gemma3 (HF does not)",
    "gemma_norm_no_offset": "Gemma RMSNorm multiplies by w instead of (1 + w)",
    "window_all_layers": "Qwen3 sliding window on every layer (the 4.51/4.52 eager/SDPA mask)",
    "no_rope_inverted": "SmolLM3 no_rope_layers read as 1 = NoPE",
}

_LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3", "smollm3", "phi3")
_GEMMA = ("gemma2", "gemma3_text")


def text_config(config):
    """The decoder config with class defaults filled in. For Gemma3ForConditionalGeneration
    (model_type gemma3) that is `text_config` over Gemma3TextConfig's defaults; torch_dtype and the
    private `_ablate` set come from the top level."""
    model_type = config["model_type"]
    if model_type == "gemma3":
        text = dict(CLASS_DEFAULTS["gemma3_text"])
        text.update(config.get("text_config") or {})
        text["model_type"] = "gemma3_text"
        text["_wrapper"] = "gemma3"
        text["torch_dtype"] = config.get("torch_dtype", config.get("dtype", "float32"))
        if "_ablate" in config:
            text["_ablate"] = config["_ablate"]
        return text
    if model_type not in _LLAMA_LIKE + _GEMMA:
        raise ValueError(f"unsupported model_type {model_type!r}")
    merged = dict(CLASS_DEFAULTS.get(model_type, {}))
    merged.update(config)
    if "torch_dtype" not in merged:
        merged["torch_dtype"] = merged.get("dtype", "float32")
    return merged


def ablated(text, name):
    return name in text.get("_ablate", ())


# --------------------------------------------------------------------------------------------
# Sizes and family switches
# --------------------------------------------------------------------------------------------


def head_dim_of(config):
    text = text_config(config)
    if text["model_type"] in ("phi3", "smollm3"):
        # No head_dim attribute in these config classes: the modeling code derives it.
        return text["hidden_size"] // text["num_attention_heads"]
    # LlamaConfig/MistralConfig: head_dim, or hidden_size // num_attention_heads when absent/null.
    # Qwen2Config (4.x) has no head_dim at all. Qwen3/Gemma: class default when absent.
    return text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]


def attention_biases(config):
    """(q/k/v bias, o bias, mlp bias) as each architecture builds its nn.Linear layers."""
    text = text_config(config)
    model_type = text["model_type"]
    if model_type in ("llama", "smollm3"):
        attention_bias = bool(text.get("attention_bias", False))
        return attention_bias, attention_bias, bool(text.get("mlp_bias", False))
    if model_type == "qwen2":
        return True, False, False  # Qwen2Attention: q/k/v bias=True, o_proj bias=False; MLP no bias
    if model_type in ("qwen3",) + _GEMMA:
        attention_bias = bool(text.get("attention_bias", False))  # q, k, v and o; MLP never
        return attention_bias, attention_bias, False
    if model_type in ("mistral", "phi3"):
        return False, False, False
    raise ValueError(f"unsupported model_type {model_type!r}")


def tie_word_embeddings(config):
    # Llama, Mistral, Qwen2, Qwen3 and Phi3 default to False; Gemma2/3 and SmolLM3 to True.
    return bool(text_config(config).get("tie_word_embeddings", False))


def is_gemma(text):
    return text["model_type"] in _GEMMA


def layer_types_of(config):
    """'sliding_attention' / 'full_attention' per layer, as each config class derives them."""
    text = text_config(config)
    model_type, layers = text["model_type"], text["num_hidden_layers"]
    if text.get("layer_types") is not None and model_type in ("qwen3", "smollm3", "gemma2", "gemma3_text"):
        return list(text["layer_types"])
    if model_type == "gemma2":
        return ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]
    if model_type == "gemma3_text":
        # 4.50-4.52 read sliding_window_pattern; 4.53+ derive layer_types from the same key
        # (`_sliding_window_pattern` as serialized by 4.53+ is not read back).
        pattern = text.get("sliding_window_pattern") or 6
        return ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)]
    if model_type == "qwen3":
        window = text.get("sliding_window") if text.get("use_sliding_window") else None
        return ["sliding_attention" if window is not None and i >= text["max_window_layers"] else "full_attention"
                for i in range(layers)]
    if model_type == "smollm3":
        rope = no_rope_layers_of(config)
        use = text.get("use_sliding_window") and text.get("sliding_window") is not None
        return ["sliding_attention" if use and not rope[i] else "full_attention" for i in range(layers)]
    return ["full_attention"] * layers


def sliding_window_for_layer(config, layer):
    """Keys at distance >= window are masked; None means plain causal attention."""
    text = text_config(config)
    model_type = text["model_type"]
    if model_type == "mistral":
        return text.get("sliding_window")
    if model_type == "phi3":
        return text.get("sliding_window")  # every layer (Phi3Attention passes config.sliding_window)
    if model_type == "qwen2":
        # Qwen2Config keeps sliding_window only when use_sliding_window is true, and then only
        # layers >= max_window_layers use it.
        if not text.get("use_sliding_window", False) or text.get("sliding_window") is None:
            return None
        return text["sliding_window"] if layer >= text.get("max_window_layers", 28) else None
    if model_type in ("qwen3", "smollm3"):
        if not text.get("use_sliding_window") or text.get("sliding_window") is None:
            return None
        if model_type == "qwen3" and ablated(text, "window_all_layers"):
            return text["sliding_window"]
        return text["sliding_window"] if layer_types_of(config)[layer] == "sliding_attention" else None
    if model_type in _GEMMA:
        return text["sliding_window"] if layer_types_of(config)[layer] == "sliding_attention" else None
    return None


def no_rope_layers_of(config):
    """SmolLM3: 1 = the layer applies RoPE, 0 = NoPE. Derived from no_rope_layer_interval when absent."""
    text = text_config(config)
    rope = text.get("no_rope_layers")
    if rope is None:
        interval = text.get("no_rope_layer_interval", 4)
        rope = [int((i + 1) % interval != 0) for i in range(text["num_hidden_layers"])]
    if ablated(text, "no_rope_inverted"):
        rope = [1 - r for r in rope]
    return [int(r) for r in rope]


# --------------------------------------------------------------------------------------------
# RoPE
# --------------------------------------------------------------------------------------------


def rope_type_of(config):
    scaling = text_config(config).get("rope_scaling")
    if not scaling:
        return "default"
    return scaling.get("rope_type", scaling.get("type", "default"))  # "type" is the older key


def _rope_spec(text, theta, scaling):
    rotary = head_dim_of(text)
    if text["model_type"] == "phi3":
        rotary = int(rotary * text.get("partial_rotary_factor", 1.0))
    return {"theta": float(theta), "scaling": scaling, "dim": rotary,
            "max_position_embeddings": text.get("max_position_embeddings"),
            "original_max_position_embeddings": text.get("original_max_position_embeddings")}


def rope_spec_for_layer(config, layer):
    """The RoPE a layer applies (None for a NoPE layer): base, rope_scaling and rotary dim."""
    text = text_config(config)
    model_type = text["model_type"]
    if model_type == "smollm3" and not no_rope_layers_of(config)[layer]:
        return None
    if model_type == "gemma2":
        return _rope_spec(text, text["rope_theta"], None)  # Gemma2 has no rope_scaling (4.42 - 4.52)
    if model_type == "gemma3_text" and layer_types_of(config)[layer] == "sliding_attention" \
            and not ablated(text, "local_rope"):
        # Local layers: plain default RoPE with rope_local_base_freq, whatever rope_scaling says.
        return _rope_spec(text, text["rope_local_base_freq"], None)
    return _rope_spec(text, text.get("rope_theta", 10000.0), text.get("rope_scaling"))


def llama3_bands(config, inv_freq):
    """Band of each frequency under llama3 scaling: 'high' (kept), 'low' (/factor) or 'smooth'."""
    scaling = text_config(config)["rope_scaling"]
    old_context = scaling["original_max_position_embeddings"]
    low_freq_wavelen = old_context / scaling["low_freq_factor"]
    high_freq_wavelen = old_context / scaling["high_freq_factor"]
    wavelen = 2.0 * math.pi / inv_freq
    return np.where(wavelen < high_freq_wavelen, "high", np.where(wavelen > low_freq_wavelen, "low", "smooth"))


def longrope_factor_and_scale(spec):
    """(original_max_position_embeddings, attention factor) as _compute_longrope_parameters reads them.
    Phi3 always has a top-level original_max_position_embeddings: then factor is
    max_position_embeddings / original (rope_scaling's own `factor` is ignored)."""
    scaling = spec["scaling"]
    original = spec["original_max_position_embeddings"]
    if original is not None:
        factor = spec["max_position_embeddings"] / original
    else:
        original = spec["max_position_embeddings"]
        factor = scaling.get("factor")
    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1.0 + math.log(factor) / math.log(original))
    return original, float(attention_factor)


def rope_frequencies(spec, seq_len):
    """(inverse frequencies [dim/2], cos/sin multiplier) for a call whose largest position is
    seq_len - 1 (longrope picks its factors from that)."""
    dim = spec["dim"]
    inv_freq = 1.0 / spec["theta"] ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    scaling = spec["scaling"]
    rope_type = "default" if not scaling else scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type == "default":
        return inv_freq, 1.0
    if rope_type == "linear":
        # Dividing positions by factor == dividing the frequencies by factor.
        return inv_freq / float(scaling["factor"]), 1.0
    if rope_type == "llama3":
        factor = float(scaling["factor"])
        low = float(scaling["low_freq_factor"])
        high = float(scaling["high_freq_factor"])
        old_context = float(scaling["original_max_position_embeddings"])
        wavelen = 2.0 * math.pi / inv_freq
        bands = np.where(wavelen < old_context / high, "high", np.where(wavelen > old_context / low, "low", "smooth"))
        # Smooth band: interpolate between inv_freq / factor and inv_freq, with weight
        # s = (old_context / wavelen - low) / (high - low) on the unscaled frequency.
        smooth = (old_context / wavelen - low) / (high - low)
        smoothed = (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
        return np.where(bands == "high", inv_freq, np.where(bands == "low", inv_freq / factor, smoothed)), 1.0
    if rope_type in ("longrope", "su"):
        original, attention_factor = longrope_factor_and_scale(spec)
        # Long factors when max(position_ids) + 1 > original_max_position_embeddings, else short.
        key = "long_factor" if seq_len > original else "short_factor"
        ext = np.asarray(scaling[key], dtype=np.float64)
        if ext.shape != inv_freq.shape:
            raise ValueError(f"{key} has {ext.size} entries, rotary dim {dim} needs {inv_freq.size}")
        return inv_freq / ext, attention_factor
    raise ValueError(f"unsupported rope type {rope_type!r}")


def rope_inv_freq(config):
    """Inverse frequencies (float64) of the config's main RoPE after rope_scaling (short factors for
    longrope)."""
    text = text_config(config)
    return rope_frequencies(_rope_spec(text, text.get("rope_theta", 10000.0), text.get("rope_scaling")), 1)[0]


# --------------------------------------------------------------------------------------------
# The resolved architecture
# --------------------------------------------------------------------------------------------


def round_to_dtype(value, dtype_name):
    """A Python float as the weights' dtype would hold it (via float32, like torch.tensor(x).to(dtype))."""
    value32 = np.float32(value)
    if dtype_name in ("float32", None):
        return float(value32)
    if dtype_name == "float16":
        return float(np.float16(value32))
    if dtype_name == "bfloat16":
        bits = np.array([value32], dtype=np.float32).view(np.uint32).astype(np.uint64)
        bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
        return float(bits.astype(np.uint32).view(np.float32)[0])
    raise ValueError(f"unsupported dtype {dtype_name!r}")


class Arch:
    """Everything the forward pass needs, resolved from a config dict."""

    def __init__(self, config):
        text = text_config(config)
        self.model_type = text["model_type"]
        self.wrapper = text.get("_wrapper")  # "gemma3" for Gemma3ForConditionalGeneration
        self.hidden = text["hidden_size"]
        self.heads = text["num_attention_heads"]
        self.kv_heads = text.get("num_key_value_heads") or self.heads
        self.head_dim = head_dim_of(config)
        self.layers = text["num_hidden_layers"]
        self.eps = float(text["rms_norm_eps"])
        self.qkv_bias, self.o_bias, self.mlp_bias = attention_biases(config)
        self.tied = tie_word_embeddings(config)
        self.gemma = is_gemma(text)
        self.fused = self.model_type == "phi3"  # qkv_proj and gate_up_proj
        self.activation = text.get("hidden_activation", "gelu_pytorch_tanh") if self.gemma \
            else text.get("hidden_act", "silu")
        self.windows = [sliding_window_for_layer(config, i) for i in range(self.layers)]
        self.ropes = [rope_spec_for_layer(config, i) for i in range(self.layers)]
        self.ablate = set(text.get("_ablate", ()))
        if self.ablate - set(ABLATIONS):
            raise ValueError(f"unknown ablation(s) {sorted(self.ablate - set(ABLATIONS))}")
        self.qk_norm = None
        if self.model_type == "qwen3":
            self.qk_norm = "llama"
        elif self.model_type == "gemma3_text":
            self.qk_norm = "gemma"
        if "qk_norm" in self.ablate:
            self.qk_norm = None
        self.norm_offset = 0.0 if "gemma_norm_no_offset" in self.ablate else 1.0
        if self.gemma:
            # Gemma2/3 scale scores by query_pre_attn_scalar^-0.5, not head_dim^-0.5.
            self.scaling = float(text["query_pre_attn_scalar"]) ** -0.5
            scale = math.sqrt(self.hidden)
            # embed_scale.to(weight.dtype) rounds to the dtype the model is loaded in. The expected
            # values are those of a model upcast to float32 on load (as for llama_bf16), so float32
            # here; a bf16-loaded model would use sqrt(48) = 6.9375 instead (0.0056 apart).
            if "embed_scale_unrounded" not in self.ablate:
                scale = round_to_dtype(scale, "float32")
            self.embed_scale = None if "embed_scale" in self.ablate else scale
        else:
            self.scaling = self.head_dim ** -0.5
            self.embed_scale = None
        # Attention soft-capping: Gemma2 (eager) applies it; Gemma3's attention never passes it on.
        self.attn_softcap = None
        if self.model_type == "gemma2" or (self.model_type == "gemma3_text" and "gemma3_attn_softcap" in self.ablate):
            self.attn_softcap = text.get("attn_logit_softcapping")
        self.final_softcap = text.get("final_logit_softcapping") if self.gemma else None
        if self.wrapper == "gemma3" and self.final_softcap is not None:
            # Gemma3ForConditionalGeneration applied it through Gemma3ForCausalLM up to 4.51 and
            # stopped in 4.52 (lm_head applied directly); refuse rather than pick one.
            raise ValueError("final_logit_softcapping in a Gemma3ForConditionalGeneration config is "
                             "version-dependent in transformers")
        if text.get("use_bidirectional_attention"):
            raise ValueError("use_bidirectional_attention (EmbeddingGemma) is not a causal LM")
        if self.activation not in ("silu", "gelu_pytorch_tanh"):
            raise ValueError(f"unsupported activation {self.activation!r}")


def resolve(config):
    return Arch(config)


def canonical_weight_name(config, name):
    """Map a checkpoint tensor name onto the decoder-only names (model.*, lm_head.weight); None for
    tensors the text forward pass does not use. Gemma3ForConditionalGeneration checkpoints on the Hub
    (and the conversion script) use `language_model.model.*`; transformers 4.52+ holds them in memory
    as `model.language_model.*` (both accepted)."""
    if config["model_type"] != "gemma3":
        return name
    for prefix in ("language_model.model.", "model.language_model."):
        if name.startswith(prefix):
            return "model." + name[len(prefix):]
    if name in ("language_model.lm_head.weight", "lm_head.weight"):
        return "lm_head.weight"
    if name.startswith(("vision_tower.", "multi_modal_projector.", "model.vision_tower.",
                        "model.multi_modal_projector.")):
        return None
    raise ValueError(f"unexpected tensor {name!r} in a Gemma3ForConditionalGeneration checkpoint")
