// Rotary position embeddings as transformers computes them (rotate_half layout, not interleaved),
// with the rope_scaling variants of ModelConfig (none, linear, llama3, longrope) over the first
// rotaryDim() dimensions of each head (Phi-3's partial_rotary_factor leaves the rest unturned).
#pragma once

#include <torch/torch.h>

#include "headroom/model_config.h"

namespace headroom {

class RotaryEmbedding {
public:
    // The model's rotary embedding (rope_theta, rope_scaling).
    explicit RotaryEmbedding(const ModelConfig &config);
    // One with another base and scaling (Gemma 3's sliding layers: rope_local_base_freq, none).
    RotaryEmbedding(const ModelConfig &config, double theta, const RopeScaling &scaling);
    // positions [B, T] int64 -> cos, sin [B, 1, T, rotaryDim] in `dtype`. longrope picks the long
    // factors when the largest position + 1 passes original_max_position_embeddings, as
    // transformers' dynamic update does for each forward call.
    std::pair<torch::Tensor, torch::Tensor> cosSin(const torch::Tensor &positions, torch::ScalarType dtype) const;
    const torch::Tensor &inverseFrequencies() const { return m_invFreq; }

private:
    torch::Tensor m_invFreq; // [rotaryDim / 2] float32
    torch::Tensor m_longInvFreq; // longrope only
    int64_t m_longFrom = 0; // longrope: positions + 1 above this use m_longInvFreq
    double m_attentionFactor = 1.0;
};

// x * cos + rotate_half(x) * sin over the first cos.size(-1) dims of x (the rest pass through),
// rotate_half(x) = cat(-x2, x1) over the two halves of those dims.
torch::Tensor applyRotary(const torch::Tensor &x, const torch::Tensor &cos, const torch::Tensor &sin);

} // namespace headroom
