// attn_implementation "sdpa" (headroom/attention.h): attention whose backward keeps q, k and v, not
// the [B, heads, T, S] probabilities, and recomputes those from them.
#pragma once

#include <optional>

#include <torch/torch.h>

namespace headroom {

// q [B, heads, T, d] after rotary; k, v [B, kv heads, S, d] (heads a multiple of kv heads, query
// head i reading kv head i / (heads / kv heads)); allowed bool [B or 1, 1, T, S]: which keys each
// query may attend, never a later position than its own (query i is position S - T + i), as in
// every mask the model builds. `causal`: T == S and a plain causal mask gives the same result as
// `allowed` at every position that matters (ForwardInputs::plainCausal()), which lets CUDA use
// torch's flash kernel. k and v are read by batched matmuls: contiguous, or views whose batch and
// head strides merge (KV-cache slices). Returns [B, heads, T, d], equal to softmax(q·k^T /
// sqrt(d), masked)·v as decoder_layer.cpp's eager form computes it.
torch::Tensor fusedAttention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                             const torch::Tensor &allowed, bool causal, double scale,
                             std::optional<double> softcap = std::nullopt);

} // namespace headroom
