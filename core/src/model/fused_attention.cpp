#include "model/fused_attention.h"

#include <cmath>
#include <limits>

#include <torch/version.h>

#include "headroom/attention.h"
#include "headroom/runtime.h"

#if !defined(HEADROOM_NO_TORCH_SDPA) &&                                                                                \
    (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5))
#define HEADROOM_TORCH_SDPA_GQA 1 // scaled_dot_product_attention with enable_gqa (LibTorch 2.5)
#endif

namespace headroom {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Query rows [c0, c1) of every head and the keys they can see: every mask the model builds is
// causal, so query row i (position S - T + i) sees keys [0, S - T + i] at most, and the chunk's
// later keys, which would only add zero probabilities, are left out. The chunk of q as
// [B, kv, G*rows, d] (a copy) and its probabilities, float32 [B, kv, G, rows, keys], computed step
// by step as the eager form does (scores in the compute dtype, scaled, then masked and normalised
// in float32).
struct Chunk {
    int64_t keys = 0;
    torch::Tensor q, probs;
    torch::Tensor capped; // with soft-capping: tanh(scaled scores / cap), for the backward
};

Chunk chunkProbabilities(const torch::Tensor &q5, const torch::Tensor &k, const torch::Tensor &allowed, int64_t c0,
                         int64_t c1, double scale, double softcap) {
    const int64_t b = q5.size(0), kvh = q5.size(1), g = q5.size(2), t = q5.size(3), d = q5.size(4), rows = c1 - c0;
    Chunk chunk;
    chunk.keys = k.size(2) - t + c1;
    chunk.q = q5.slice(3, c0, c1).reshape({b, kvh, g * rows, d});
    auto scores = torch::matmul(chunk.q, k.narrow(2, 0, chunk.keys).transpose(-1, -2));
    scores.mul_(scale);
    if (softcap > 0) {
        chunk.capped = torch::tanh(scores / softcap);
        scores = chunk.capped * softcap;
    }
    auto masked = scores.to(torch::kFloat32).view({b, kvh, g, rows, chunk.keys});
    scores = torch::Tensor();
    masked.masked_fill_(allowed.slice(2, c0, c1).narrow(3, 0, chunk.keys).logical_not().unsqueeze(2),
                        std::numeric_limits<float>::lowest());
    chunk.probs = masked.softmax(-1);
    return chunk;
}

// Written by hand because LibTorch 1.13 has no fused attention, and used on every CPU so that what
// it keeps (which the memory estimate counts) does not depend on the LibTorch version: a custom
// autograd function that works through the queries in chunks of attentionChunkRows() and saves
// only its inputs.
class ChunkedAttentionFunction : public torch::autograd::Function<ChunkedAttentionFunction> {
public:
    static torch::Tensor forward(AutogradContext *ctx, const torch::Tensor &q, const torch::Tensor &k,
                                 const torch::Tensor &v, const torch::Tensor &allowed, double scale, double softcap) {
        const int64_t b = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3), kvh = k.size(1), s = k.size(2);
        const int64_t g = h / kvh;
        const auto q5 = q.view({b, kvh, g, t, d});
        auto out = torch::empty({b, kvh, g, t, d}, q.options());
        const int64_t rows = attentionChunkRows(b, h, t, s);
        for (int64_t c0 = 0; c0 < t; c0 += rows) {
            const int64_t c1 = std::min(t, c0 + rows);
            Chunk chunk = chunkProbabilities(q5, k, allowed, c0, c1, scale, softcap);
            chunk.q = torch::Tensor();
            const auto probs = chunk.probs.to(q.scalar_type());
            chunk.probs = torch::Tensor();
            out.slice(3, c0, c1).copy_(
                torch::matmul(probs.view({b, kvh, g * (c1 - c0), chunk.keys}), v.narrow(2, 0, chunk.keys))
                    .view({b, kvh, g, c1 - c0, d}));
        }
        ctx->save_for_backward({q, k, v, allowed});
        ctx->saved_data["scale"] = scale;
        ctx->saved_data["softcap"] = softcap;
        return out.view({b, h, t, d});
    }

    // Per chunk: dv += p^T·dO; dp = dO·v^T; ds = p * (dp - sum(dp * p)) (softmax's backward), zero
    // where masked, times 1 - tanh^2 with soft-capping, times the scale; dq = ds·k; dk += ds^T·q. dk and dv sum over chunks in float32.
    // These are the operations autograd runs backward through the eager form, chunk by chunk.
    static tensor_list backward(AutogradContext *ctx, tensor_list gradOutputs) {
        const auto saved = ctx->get_saved_variables();
        const auto &q = saved[0], &k = saved[1], &v = saved[2], &allowed = saved[3];
        const double scale = ctx->saved_data["scale"].toDouble();
        const double softcap = ctx->saved_data["softcap"].toDouble();
        const int64_t b = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3), kvh = k.size(1), s = k.size(2);
        const int64_t g = h / kvh;
        const auto dtype = q.scalar_type();
        const auto q5 = q.view({b, kvh, g, t, d});
        const auto gradOut5 = gradOutputs[0].view({b, kvh, g, t, d});
        const bool needQ = ctx->needs_input_grad(0), needK = ctx->needs_input_grad(1), needV = ctx->needs_input_grad(2);
        torch::Tensor gradQ = needQ ? torch::empty({b, kvh, g, t, d}, q.options()) : torch::Tensor();
        const auto fp32 = q.options().dtype(torch::kFloat32);
        torch::Tensor gradK = needK ? torch::zeros({b, kvh, s, d}, fp32) : torch::Tensor();
        torch::Tensor gradV = needV ? torch::zeros({b, kvh, s, d}, fp32) : torch::Tensor();
        const int64_t rows = attentionChunkRows(b, h, t, s);
        for (int64_t c0 = 0; c0 < t; c0 += rows) {
            const int64_t c1 = std::min(t, c0 + rows), n = g * (c1 - c0);
            Chunk chunk = chunkProbabilities(q5, k, allowed, c0, c1, scale, softcap);
            const int64_t keys = chunk.keys;
            const auto gradOut = gradOut5.slice(3, c0, c1).reshape({b, kvh, n, d});
            if (needV)
                gradV.narrow(2, 0, keys)
                    .add_(torch::matmul(chunk.probs.to(dtype).view({b, kvh, n, keys}).transpose(-1, -2), gradOut));
            if (!needQ && !needK)
                continue;
            auto gradProbs = torch::matmul(gradOut, v.narrow(2, 0, keys).transpose(-1, -2))
                                 .to(torch::kFloat32)
                                 .view(chunk.probs.sizes());
            // The kernel eager attention's softmax backward runs (and so the same rounding).
            auto gradScores = at::_softmax_backward_data(gradProbs, chunk.probs, -1, torch::kFloat32);
            gradProbs = torch::Tensor();
            chunk.probs = torch::Tensor();
            gradScores.masked_fill_(allowed.slice(2, c0, c1).narrow(3, 0, keys).logical_not().unsqueeze(2), 0.0);
            auto gradScaled = gradScores.to(dtype).view({b, kvh, n, keys});
            gradScores = torch::Tensor();
            if (softcap > 0)
                gradScaled.mul_(1 - chunk.capped.square());
            gradScaled.mul_(scale);
            if (needQ)
                gradQ.slice(3, c0, c1).copy_(
                    torch::matmul(gradScaled, k.narrow(2, 0, keys)).view({b, kvh, g, c1 - c0, d}));
            if (needK)
                gradK.narrow(2, 0, keys).add_(torch::matmul(gradScaled.transpose(-1, -2), chunk.q));
        }
        return {needQ ? gradQ.view({b, h, t, d}) : torch::Tensor(),
                needK ? gradK.to(dtype) : torch::Tensor(),
                needV ? gradV.to(dtype) : torch::Tensor(),
                torch::Tensor(),
                torch::Tensor(),
                torch::Tensor()};
    }
};

} // namespace

torch::Tensor fusedAttention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                             const torch::Tensor &allowed, bool causal, double scale, std::optional<double> softcap) {
#ifdef HEADROOM_TORCH_SDPA_GQA
    // Torch's flash kernel, where it runs (headroom/attention.h); it takes no mask but a causal one.
    const bool training =
        torch::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
    if (causal && !softcap && q.is_cuda() && q.scalar_type() != torch::kFloat32 &&
        flashAttentionRuns(cudaComputeCapability(q.device()), q.size(-1), training))
        return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true,
                                                /*scale=*/scale, /*enable_gqa=*/true);
#else
    (void)causal;
#endif
    return ChunkedAttentionFunction::apply(q, k, v, allowed, scale, softcap.value_or(0.0));
}

} // namespace headroom
