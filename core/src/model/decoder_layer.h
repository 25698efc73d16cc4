// One decoder block: x + Attention(Norm(x)), then + MLP(Norm(x)), in the forms the supported
// families give it (headroom/model_config.h): Llama's SwiGLU block; Qwen3's and Gemma 3's q/k
// norms; Gemma's (1 + w) norms, sandwich norms, GeGLU, attention scale and soft-capping; Phi-3's
// fused projections and partial RoPE; SmolLM3's RoPE-free layers. Written as transformers' eager
// path computes it: norm statistics and softmax in float32, all else in the compute dtype;
// grouped-query attention with an explicit boolean mask. Attention is either that eager form or
// fused_attention.h's (attn_implementation sdpa), equal up to rounding.
#pragma once

#include <torch/torch.h>

#include "headroom/model_config.h"
#include "model/linear.h"

namespace headroom {

class KvCache;

// What every layer of one forward pass shares.
struct LayerInputs {
    torch::Tensor cos, sin; // [B, 1, T, rotaryDim]
    torch::Tensor cosLocal, sinLocal; // Gemma 3's sliding layers (undefined for other models)
    torch::Tensor allowed; // bool [B, 1, T, S]: which keys each query may attend
    torch::Tensor allowedWindow; // same with the sliding window applied (undefined without one)
    KvCache *cache = nullptr;
    bool training = false;
    bool fusedAttention = false; // attn_implementation sdpa (fused_attention.h), else eager
    bool causal = false; // allowed is plain causal for every token the loss reads (fusedAttention)
};

struct DecoderLayer {
    int64_t index = 0;
    bool fused = false; // Phi-3: qkv and gateUp hold the projections
    torch::Tensor inputNorm, postAttentionNorm;
    torch::Tensor preFeedforwardNorm, postFeedforwardNorm; // Gemma's sandwich (else undefined)
    torch::Tensor qNorm, kNorm; // Qwen3, Gemma 3 (else undefined)
    Linear q, k, v, o, gate, up, down;
    Linear qkv, gateUp;

    torch::Tensor forward(const torch::Tensor &x, const LayerInputs &inputs, const ModelConfig &config) const;
    // The linear layers by their HF module names (q_proj, ..., down_proj; Phi-3: qkv_proj, o_proj,
    // gate_up_proj, down_proj), in linearModules() order.
    std::vector<std::pair<std::string, Linear *>> linears();
    std::vector<std::pair<std::string, const Linear *>> linears() const;
    // The norm weights (the model's base bytes count them).
    std::vector<const torch::Tensor *> norms() const;
    // The member that holds the norm stored as `checkpointName` (...input_layernorm.weight, ...self_attn.q_norm.weight).
    torch::Tensor &normSlot(const std::string &checkpointName);
};

// transformers' RMSNorm: statistics in float32, the weight applied after casting back (Llama), or
// Gemma's: x_norm * (1 + w) all in float32, cast back at the end.
torch::Tensor rmsNorm(const torch::Tensor &x, const torch::Tensor &weight, double eps, bool gemma = false);

} // namespace headroom
