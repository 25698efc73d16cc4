// One Llama-family decoder block: x + Attention(RMSNorm(x)), then + SwiGLU(RMSNorm(x)).
// Written as transformers' eager path computes it: RMSNorm statistics and softmax in float32, all
// else in the compute dtype; grouped-query attention with an explicit boolean mask. Attention is
// either that eager form or fused_attention.h's (attn_implementation sdpa), equal up to rounding.
#pragma once

#include <torch/torch.h>

#include "headroom/model_config.h"
#include "model/linear.h"

namespace headroom {

class KvCache;

// What every layer of one forward pass shares.
struct LayerInputs {
    torch::Tensor cos, sin; // [B, 1, T, headDim]
    torch::Tensor allowed; // bool [B, 1, T, S]: which keys each query may attend
    torch::Tensor allowedWindow; // same with the sliding window applied (undefined without one)
    KvCache *cache = nullptr;
    bool training = false;
    bool fusedAttention = false; // attn_implementation sdpa (fused_attention.h), else eager
    bool causal = false; // allowed is plain causal for every token the loss reads (fusedAttention)
};

struct DecoderLayer {
    int64_t index = 0;
    torch::Tensor inputNorm, postAttentionNorm;
    Linear q, k, v, o, gate, up, down;

    torch::Tensor forward(const torch::Tensor &x, const LayerInputs &inputs, const ModelConfig &config) const;
    // The linear layers by their HF module names (q_proj, ..., down_proj).
    std::vector<std::pair<std::string, Linear *>> linears();
    std::vector<std::pair<std::string, const Linear *>> linears() const;
};

// transformers' RMSNorm: statistics in float32, the weight applied after casting back.
torch::Tensor rmsNorm(const torch::Tensor &x, const torch::Tensor &weight, double eps);

} // namespace headroom
