// attn_implementation "sdpa" (headroom/attention.h): attention whose backward keeps q, k and v, not
// the [B, heads, T, S] probabilities, and recomputes those from them.
#pragma once

#include <torch/torch.h>

namespace headroom {

// q [B, heads, T, d] after rotary; k, v [B, kv heads, S, d] (heads a multiple of kv heads, query
// head i reading kv head i / (heads / kv heads)); allowed bool [B or 1, 1, T, S]: which keys each
// query may attend. `causal`: allowed is exactly key <= query with T == S (no padding, packing or
// window), which lets CUDA use torch's flash kernel. Returns [B, heads, T, d], equal to
// softmax(q·k^T / sqrt(d), masked)·v as decoder_layer.cpp's eager form computes it.
torch::Tensor fusedAttention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                             const torch::Tensor &allowed, bool causal);

} // namespace headroom
