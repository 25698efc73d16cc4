// attn_implementation, by transformers' names:
//   eager  softmax(q·k^T)·v with the [B, heads, T, S] probabilities materialised and kept for
//          backward (float32 scores, as transformers' eager path computes them)
//   sdpa   fused attention: backward keeps q, k and v (torch's flash kernel also its output and
//          one float32 log-sum-exp per query and head) and recomputes the probabilities
//          (FlashAttention's trade: a little more compute for no [B, heads, T, S] term). Where
//          flashAttentionRuns() says so it is torch's scaled_dot_product_attention; elsewhere
//          Headroom's chunked form.
// These rules are here, without LibTorch, because the memory estimate follows them too.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace headroom {

// Whether fused attention takes torch's flash kernel: CUDA, 16-bit compute, a plain causal mask, a
// build with LibTorch >= 2.5 (assumed by the estimate), and what torch 2.x's flash-attention 2
// supports — compute capability 8.0 to 9.x (`capability` = major * 10 + minor; 0 = unknown,
// taken as one that does) and a head_dim that is a multiple of 8 up to 256, up to 192 on sm86/sm89
// when training. Elsewhere torch would pick a kernel that keeps more (the math kernel keeps the
// whole [B, heads, T, S] weights), so the chunked form runs instead.
inline bool flashAttentionRuns(int capability, int64_t headDim, bool training) {
    const bool card = capability == 0 || (capability >= 80 && capability < 100);
    const int64_t largest = training && (capability == 86 || capability == 89) ? 192 : 256;
    return card && headDim % 8 == 0 && headDim <= largest;
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

// The largest rows x keys of the chunks of T queries over T keys (a forward without a KV cache):
// a chunk sees only the keys up to its last row, so the chunked form's working set follows it.
inline int64_t attentionLargestChunk(int64_t rows, int64_t t) {
    int64_t largest = 0;
    for (int64_t c0 = 0; c0 < t; c0 += rows) {
        const int64_t c1 = std::min(t, c0 + rows);
        largest = std::max(largest, (c1 - c0) * c1);
    }
    return largest;
}

} // namespace headroom
