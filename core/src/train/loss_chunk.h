// How many target tokens the chunked loss (chunked_loss.h) projects through lm_head at a time.
// Here, without LibTorch, because the memory estimate follows it too.
#pragma once

#include <algorithm>
#include <cstdint>

namespace headroom {

// One chunk's float32 logits stay within this many bytes. With a large vocabulary the chunk is the
// largest activation of a checkpointed step (in 16-bit compute it holds about 10 bytes per logit:
// the float32 logits, their softmax and its 16-bit copy), so it is bounded in bytes, not tokens:
// 1024 tokens of a 32k vocabulary, 261 of Llama 3's 128k (1024 of those held 1.2 GiB).
constexpr int64_t kLossChunkBytes = int64_t(128) << 20;

// Tokens per chunk for a vocabulary of `vocab`: within kLossChunkBytes, from 16 (a matmul still
// worth launching) to 1024 (more rows per chunk buy no speed).
inline int64_t lossChunkTokens(int64_t vocab) {
    return std::clamp<int64_t>(kLossChunkBytes / (4 * std::max<int64_t>(1, vocab)), 16, 1024);
}

} // namespace headroom
