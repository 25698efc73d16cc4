// Rotary position embeddings as transformers computes them (rotate_half layout, not interleaved),
// with the rope_scaling variants of ModelConfig: none, linear, llama3.
#pragma once

#include <torch/torch.h>

#include "headroom/model_config.h"

namespace headroom {

class RotaryEmbedding {
public:
    explicit RotaryEmbedding(const ModelConfig &config);
    // positions [B, T] int64 -> cos, sin [B, 1, T, headDim] in `dtype`.
    std::pair<torch::Tensor, torch::Tensor> cosSin(const torch::Tensor &positions, torch::ScalarType dtype) const;
    const torch::Tensor &inverseFrequencies() const { return m_invFreq; }

private:
    torch::Tensor m_invFreq; // [headDim / 2] float32
};

// x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1) over the two halves of the last dim.
torch::Tensor applyRotary(const torch::Tensor &x, const torch::Tensor &cos, const torch::Tensor &sin);

} // namespace headroom
