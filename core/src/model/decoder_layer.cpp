#include "model/decoder_layer.h"

#include <limits>

#include "headroom/causal_lm.h"
#include "model/fused_attention.h"
#include "model/rotary.h"

namespace headroom {

torch::Tensor rmsNorm(const torch::Tensor &x, const torch::Tensor &weight, double eps, bool gemma) {
    auto xf = x.to(torch::kFloat32);
    auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    if (gemma)
        return (normed * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
    return weight * normed.to(x.scalar_type());
}

namespace {

torch::Tensor norm(const torch::Tensor &x, const torch::Tensor &weight, const ModelConfig &config) {
    return rmsNorm(x, weight, config.rmsNormEps, config.gemmaNorm);
}

// [B, T, heads * d] -> [B, heads, T, d], with the per-head q/k norm where the family has one.
torch::Tensor heads(const torch::Tensor &projected, int64_t count, const torch::Tensor &headNorm,
                    const ModelConfig &config) {
    auto out = projected.reshape({projected.size(0), projected.size(1), count, config.headDim});
    if (headNorm.defined())
        out = norm(out, headNorm, config);
    return out.transpose(1, 2);
}

torch::Tensor attention(const DecoderLayer &layer, const torch::Tensor &x, const LayerInputs &in,
                        const ModelConfig &config) {
    const int64_t b = x.size(0), t = x.size(1);
    const int64_t h = config.numHeads, kvh = config.numKvHeads, d = config.headDim;
    torch::Tensor qp, kp, vp;
    if (layer.fused) {
        auto qkv = layer.qkv(x, in.training);
        qp = qkv.narrow(-1, 0, h * d);
        kp = qkv.narrow(-1, h * d, kvh * d);
        vp = qkv.narrow(-1, (h + kvh) * d, kvh * d);
    } else {
        qp = layer.q(x, in.training);
        kp = layer.k(x, in.training);
        vp = layer.v(x, in.training);
    }
    auto q = heads(qp, h, layer.qNorm, config);
    auto k = heads(kp, kvh, layer.kNorm, config);
    auto v = vp.reshape({b, t, kvh, d}).transpose(1, 2);
    const bool windowed = in.allowedWindow.defined() && config.slidingLayer(layer.index);
    if (config.usesRope(layer.index)) {
        // Gemma 3's sliding layers turn with their own base (rope_local_base_freq).
        const bool local = in.cosLocal.defined() && config.slidingLayer(layer.index);
        const auto &cos = local ? in.cosLocal : in.cos;
        const auto &sin = local ? in.sinLocal : in.sin;
        q = applyRotary(q, cos, sin);
        k = applyRotary(k, cos, sin);
    }
    if (in.cache)
        std::tie(k, v) = in.cache->append(layer.index, k, v);
    const auto &allowed = windowed ? in.allowedWindow : in.allowed;
    const double scale = config.attentionScale();
    if (in.fusedAttention) {
        // Without a cache, k (after rotary) and v are transposed views that a batched matmul would
        // copy in every chunk: contiguous once, which also frees the originals. A cache's slices
        // serve as they are.
        if (!in.cache) {
            k = k.contiguous();
            v = v.contiguous();
        }
        auto out = fusedAttention(q, k, v, allowed, in.causal && !windowed, scale, config.attnLogitSoftcap);
        return layer.o(out.transpose(1, 2).reshape({b, t, h * d}), in.training);
    }
    const int64_t s = k.size(2);
    const int64_t groups = h / kvh;
    // Grouped-query attention without repeating K/V: the `groups` query heads that share a KV head
    // are stacked along the sequence axis, so one batched matmul serves them all.
    auto scores = torch::matmul(q.reshape({b, kvh, groups * t, d}), k.transpose(-1, -2)) * scale;
    if (config.attnLogitSoftcap) // Gemma: before the mask, in the compute dtype
        scores = torch::tanh(scores / *config.attnLogitSoftcap) * *config.attnLogitSoftcap;
    auto probs = scores.view({b, kvh, groups, t, s})
                     .to(torch::kFloat32)
                     .masked_fill(allowed.logical_not().unsqueeze(2), std::numeric_limits<float>::lowest())
                     .softmax(-1)
                     .to(x.scalar_type());
    auto out = torch::matmul(probs.view({b, kvh, groups * t, s}), v); // [B, kvh, G*T, d]
    out = out.view({b, h, t, d}).transpose(1, 2).reshape({b, t, h * d});
    return layer.o(out, in.training);
}

torch::Tensor mlp(const DecoderLayer &layer, const torch::Tensor &x, const LayerInputs &in, const ModelConfig &config) {
    torch::Tensor gate, up;
    if (layer.fused) {
        // Phi-3's gate_up_proj: the gate's rows first, then up's.
        auto both = layer.gateUp(x, in.training);
        gate = both.narrow(-1, 0, config.intermediateSize);
        up = both.narrow(-1, config.intermediateSize, config.intermediateSize);
    } else {
        gate = layer.gate(x, in.training);
        up = layer.up(x, in.training);
    }
    auto activated = config.activation == Activation::GeluTanh ? torch::gelu(gate, "tanh") : torch::silu(gate);
    return layer.down(activated * up, in.training);
}

} // namespace

torch::Tensor DecoderLayer::forward(const torch::Tensor &x, const LayerInputs &inputs,
                                    const ModelConfig &config) const {
    auto attended = attention(*this, norm(x, inputNorm, config), inputs, config);
    if (config.sandwichNorms) {
        auto hidden = x + norm(attended, postAttentionNorm, config);
        auto fed = mlp(*this, norm(hidden, preFeedforwardNorm, config), inputs, config);
        return hidden + norm(fed, postFeedforwardNorm, config);
    }
    auto hidden = x + attended;
    return hidden + mlp(*this, norm(hidden, postAttentionNorm, config), inputs, config);
}

std::vector<std::pair<std::string, Linear *>> DecoderLayer::linears() {
    if (fused)
        return {{"qkv_proj", &qkv}, {"o_proj", &o}, {"gate_up_proj", &gateUp}, {"down_proj", &down}};
    return {{"q_proj", &q},       {"k_proj", &k},   {"v_proj", &v},      {"o_proj", &o},
            {"gate_proj", &gate}, {"up_proj", &up}, {"down_proj", &down}};
}

std::vector<std::pair<std::string, const Linear *>> DecoderLayer::linears() const {
    std::vector<std::pair<std::string, const Linear *>> out;
    for (const auto &[name, linear] : const_cast<DecoderLayer *>(this)->linears())
        out.emplace_back(name, linear);
    return out;
}

torch::Tensor &DecoderLayer::normSlot(const std::string &checkpointName) {
    const std::pair<const char *, torch::Tensor *> slots[] = {
        {".input_layernorm.weight", &inputNorm},
        {".post_attention_layernorm.weight", &postAttentionNorm},
        {".pre_feedforward_layernorm.weight", &preFeedforwardNorm},
        {".post_feedforward_layernorm.weight", &postFeedforwardNorm},
        {".self_attn.q_norm.weight", &qNorm},
        {".self_attn.k_norm.weight", &kNorm}};
    for (const auto &[suffix, slot] : slots) {
        const std::string end = suffix;
        if (checkpointName.size() > end.size() &&
            checkpointName.compare(checkpointName.size() - end.size(), end.size(), end) == 0)
            return *slot;
    }
    throw std::logic_error("no norm slot for " + checkpointName);
}

std::vector<const torch::Tensor *> DecoderLayer::norms() const {
    std::vector<const torch::Tensor *> out;
    for (const auto *t : {&inputNorm, &postAttentionNorm, &preFeedforwardNorm, &postFeedforwardNorm, &qNorm, &kNorm})
        if (t->defined())
            out.push_back(t);
    return out;
}

} // namespace headroom
