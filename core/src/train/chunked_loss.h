// The causal-LM loss computed without materialising float32 logits for the whole batch.
//
// batch x seq x vocab float32 logits are often the largest buffer of a training step (4 x 512 x
// 128k x 4 bytes = 1 GiB). chunkedCrossEntropySum() projects the final hidden states through the
// (frozen) lm_head a chunk of target tokens at a time, in float32, and computes each chunk's
// gradient with respect to the hidden states right away, so at most one chunk of logits exists at
// any moment (lossChunkTokens(): 128 MiB of float32 logits). Only positions with a label other
// than -100 are projected at all.
#pragma once

#include <optional>

#include <torch/torch.h>

namespace headroom {

// hidden [B, T, H] (compute dtype), lmHead [V, H], labels [B, T] (unshifted; -100 = ignore).
// Returns the SUM of token losses (float32 scalar) and the number of target tokens; the caller
// divides by the optimizer step's target-token count. Differentiable with respect to `hidden`.
// chunkTokens 0: lossChunkTokens() of lmHead's vocabulary. softcap (Gemma 2/3's
// final_logit_softcapping): the logits become softcap * tanh(logits / softcap), in float32.
struct LossSum {
    torch::Tensor sum;
    int64_t tokens = 0;
};
LossSum chunkedCrossEntropySum(const torch::Tensor &hidden, const torch::Tensor &lmHead, const torch::Tensor &labels,
                               int64_t chunkTokens = 0, std::optional<double> softcap = std::nullopt);

} // namespace headroom
