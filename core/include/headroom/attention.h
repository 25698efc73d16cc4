// attn_implementation, by transformers' names:
//   eager  softmax(q·k^T)·v with the [B, heads, T, S] probabilities materialised and kept for
//          backward (float32 scores, as transformers' eager path computes them)
//   sdpa   fused attention: backward keeps q, k, v, the output and one float32 log-sum-exp per
//          query and head, and recomputes the probabilities (FlashAttention's trade: a little more
//          compute for no [B, heads, T, S] term). On CUDA with LibTorch >= 2.5 and a purely causal
//          mask it is torch's scaled_dot_product_attention; elsewhere Headroom's chunked form.
// The chunk rule is here, without LibTorch, because the memory estimate follows it too.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace headroom {

inline const std::vector<std::string> &attentionImplementations() {
    static const std::vector<std::string> names = {"eager", "sdpa"};
    return names;
}

// The chunked form's working set per chunk is a few [B, heads, rows, S] tensors; one chunk's float32
// scores are kept within this many bytes.
constexpr int64_t kAttentionChunkBytes = int64_t(16) << 20;

// Query rows per chunk: as many as keep the chunk's float32 scores within kAttentionChunkBytes, at
// least 1 and at most all `queries`.
inline int64_t attentionChunkRows(int64_t batch, int64_t heads, int64_t queries, int64_t keys) {
    const int64_t rowBytes = std::max<int64_t>(1, 4 * batch * heads * keys);
    return std::clamp<int64_t>(kAttentionChunkBytes / rowBytes, 1, std::max<int64_t>(1, queries));
}

} // namespace headroom
