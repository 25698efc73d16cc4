#include "model/decoder_layer.h"

#include <limits>

#include "headroom/causal_lm.h"
#include "model/fused_attention.h"
#include "model/rotary.h"

namespace headroom {

torch::Tensor rmsNorm(const torch::Tensor &x, const torch::Tensor &weight, double eps) {
    auto xf = x.to(torch::kFloat32);
    auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * normed.to(x.scalar_type());
}

namespace {

torch::Tensor attention(const DecoderLayer &layer, const torch::Tensor &x, const LayerInputs &in,
                        const ModelConfig &config) {
    const int64_t b = x.size(0), t = x.size(1);
    const int64_t h = config.numHeads, kvh = config.numKvHeads, d = config.headDim;
    auto q = layer.q(x, in.training).view({b, t, h, d}).transpose(1, 2);
    auto k = layer.k(x, in.training).view({b, t, kvh, d}).transpose(1, 2);
    auto v = layer.v(x, in.training).view({b, t, kvh, d}).transpose(1, 2);
    q = applyRotary(q, in.cos, in.sin);
    k = applyRotary(k, in.cos, in.sin);
    if (in.cache)
        std::tie(k, v) = in.cache->append(layer.index, k, v);
    const bool windowed = in.allowedWindow.defined() && layer.index >= config.slidingWindowFromLayer;
    const auto &allowed = windowed ? in.allowedWindow : in.allowed;
    if (in.fusedAttention) {
        // Without a cache, k (after rotary) and v are transposed views that a batched matmul would
        // copy in every chunk: contiguous once, which also frees the originals. A cache's slices
        // serve as they are.
        if (!in.cache) {
            k = k.contiguous();
            v = v.contiguous();
        }
        auto out = fusedAttention(q, k, v, allowed, in.causal && !windowed);
        return layer.o(out.transpose(1, 2).reshape({b, t, h * d}), in.training);
    }
    const int64_t s = k.size(2);
    const int64_t groups = h / kvh;
    // Grouped-query attention without repeating K/V: the `groups` query heads that share a KV head
    // are stacked along the sequence axis, so one batched matmul serves them all.
    auto scores = torch::matmul(q.reshape({b, kvh, groups * t, d}), k.transpose(-1, -2)) * (1.0 / std::sqrt(double(d)));
    auto probs = scores.view({b, kvh, groups, t, s})
                     .to(torch::kFloat32)
                     .masked_fill(allowed.logical_not().unsqueeze(2), std::numeric_limits<float>::lowest())
                     .softmax(-1)
                     .to(x.scalar_type());
    auto out = torch::matmul(probs.view({b, kvh, groups * t, s}), v); // [B, kvh, G*T, d]
    out = out.view({b, h, t, d}).transpose(1, 2).reshape({b, t, h * d});
    return layer.o(out, in.training);
}

} // namespace

torch::Tensor DecoderLayer::forward(const torch::Tensor &x, const LayerInputs &inputs,
                                    const ModelConfig &config) const {
    auto hidden = x + attention(*this, rmsNorm(x, inputNorm, config.rmsNormEps), inputs, config);
    auto h = rmsNorm(hidden, postAttentionNorm, config.rmsNormEps);
    return hidden + down(torch::silu(gate(h, inputs.training)) * up(h, inputs.training), inputs.training);
}

std::vector<std::pair<std::string, Linear *>> DecoderLayer::linears() {
    return {{"q_proj", &q},       {"k_proj", &k},   {"v_proj", &v},      {"o_proj", &o},
            {"gate_proj", &gate}, {"up_proj", &up}, {"down_proj", &down}};
}

std::vector<std::pair<std::string, const Linear *>> DecoderLayer::linears() const {
    return {{"q_proj", &q},       {"k_proj", &k},   {"v_proj", &v},      {"o_proj", &o},
            {"gate_proj", &gate}, {"up_proj", &up}, {"down_proj", &down}};
}

} // namespace headroom
