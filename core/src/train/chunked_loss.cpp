#include "train/chunked_loss.h"

#include "train/loss_chunk.h"

namespace headroom {

namespace {

// Forward computes loss and d(loss)/d(hidden rows) together (the softmax is at hand then);
// backward only scales the stored gradient by the incoming one and scatters it back.
class ChunkedCrossEntropyFunction : public torch::autograd::Function<ChunkedCrossEntropyFunction> {
public:
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &rows,
                                 const torch::Tensor &lmHead, const torch::Tensor &targets, int64_t chunkTokens,
                                 double softcap) {
        const bool needGrad = rows.requires_grad();
        auto total = torch::zeros({}, rows.options().dtype(torch::kFloat32));
        torch::Tensor gradRows = needGrad ? torch::empty_like(rows) : torch::Tensor();
        torch::NoGradGuard noGrad;
        for (int64_t start = 0; start < rows.size(0); start += chunkTokens) {
            const int64_t n = std::min(chunkTokens, rows.size(0) - start);
            auto h = rows.narrow(0, start, n);
            auto t = targets.narrow(0, start, n);
            auto logits = torch::matmul(h, lmHead.t()).to(torch::kFloat32); // [n, V]
            torch::Tensor capped;
            if (softcap > 0) {
                capped = torch::tanh(logits / softcap);
                logits = capped * softcap;
            }
            auto lse = logits.logsumexp(-1);
            total += (lse - logits.gather(1, t.unsqueeze(1)).squeeze(1)).sum();
            if (needGrad) {
                // d/dlogits of (lse - logit[target]) = softmax - onehot(target)
                auto probs = (logits - lse.unsqueeze(1)).exp_();
                probs.scatter_add_(1, t.unsqueeze(1), torch::full({n, 1}, -1.0f, probs.options()));
                if (softcap > 0) // d(cap * tanh(z / cap))/dz = 1 - tanh^2
                    probs.mul_(1 - capped.square());
                gradRows.narrow(0, start, n).copy_(torch::matmul(probs.to(lmHead.scalar_type()), lmHead));
            }
        }
        if (needGrad)
            ctx->save_for_backward({gradRows});
        return total;
    }

    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::tensor_list gradOutputs) {
        auto gradRows = ctx->get_saved_variables()[0];
        auto scale = gradOutputs[0].to(gradRows.scalar_type());
        return {gradRows * scale, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

} // namespace

LossSum chunkedCrossEntropySum(const torch::Tensor &hidden, const torch::Tensor &lmHead, const torch::Tensor &labels,
                               int64_t chunkTokens, std::optional<double> softcap) {
    const int64_t h = hidden.size(-1);
    // Position t predicts label t + 1.
    auto rows = hidden.narrow(1, 0, hidden.size(1) - 1).reshape({-1, h});
    auto targets = labels.narrow(1, 1, labels.size(1) - 1).reshape({-1}).to(hidden.device());
    auto keep = (targets != -100).nonzero().squeeze(1);
    LossSum out;
    out.tokens = keep.numel();
    if (out.tokens == 0) {
        out.sum = (hidden.sum() * 0).to(torch::kFloat32);
        return out;
    }
    out.sum = ChunkedCrossEntropyFunction::apply(rows.index_select(0, keep), lmHead, targets.index_select(0, keep),
                                                 chunkTokens > 0 ? chunkTokens : lossChunkTokens(lmHead.size(0)),
                                                 softcap.value_or(0.0));
    return out;
}

} // namespace headroom
