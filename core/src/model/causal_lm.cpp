#include "headroom/causal_lm.h"

#include <filesystem>
#include <limits>

#include "headroom/error.h"
#include "headroom/safetensors.h"
#include "model/checkpoint_tensors.h"
#include "model/rotary.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

struct Linear {
    torch::Tensor weight;  // [out, in]
    torch::Tensor bias;    // [out] or undefined
    torch::Tensor operator()(const torch::Tensor &x) const { return torch::linear(x, weight, bias); }
};

struct DecoderLayer {
    torch::Tensor inputNorm, postAttentionNorm;
    Linear q, k, v, o, gate, up, down;
};

// transformers' RMSNorm: statistics in float32, the weight applied after casting back.
torch::Tensor rmsNorm(const torch::Tensor &x, const torch::Tensor &weight, double eps) {
    auto xf = x.to(torch::kFloat32);
    auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * normed.to(x.scalar_type());
}

} // namespace

struct CausalLM::Impl {
    ModelConfig config;
    ModelLoadOptions options;
    torch::Tensor embedTokens;  // [vocab, hidden]
    torch::Tensor finalNorm;
    torch::Tensor lmHead;       // aliases embedTokens when tied
    std::vector<DecoderLayer> layers;
    std::unique_ptr<RotaryEmbedding> rotary;

    Linear loadLinear(const SafetensorsCheckpoint &ckpt, const std::string &prefix, int64_t in, int64_t out,
                      bool bias) const {
        Linear l;
        l.weight = readCheckpointTensor(ckpt, prefix + ".weight", {out, in}, options.dtype, options.device);
        if (bias)
            l.bias = readCheckpointTensor(ckpt, prefix + ".bias", {out}, options.dtype, options.device);
        return l;
    }

    // Boolean [B, 1, T, S]: query i (absolute position past + i) may attend key j.
    torch::Tensor allowedMask(int64_t batch, int64_t past, int64_t t, const torch::Tensor &attentionMask,
                              bool slidingWindow) const {
        const auto dev = options.device;
        auto queryPos = torch::arange(past, past + t, torch::TensorOptions().dtype(torch::kLong).device(dev)).view({t, 1});
        auto keyPos = torch::arange(0, past + t, torch::TensorOptions().dtype(torch::kLong).device(dev)).view({1, past + t});
        auto allowed = keyPos <= queryPos;
        // transformers' sliding window keeps keys with query - key < window.
        if (slidingWindow)
            allowed = allowed & ((queryPos - keyPos) < *config.slidingWindow);
        allowed = allowed.view({1, 1, t, past + t});
        if (attentionMask.defined())
            allowed = allowed & attentionMask.to(dev).to(torch::kBool).view({batch, 1, 1, past + t});
        return allowed;
    }

    torch::Tensor attention(const DecoderLayer &layer, const torch::Tensor &x, const torch::Tensor &cos,
                            const torch::Tensor &sin, const torch::Tensor &allowed, KvCache *cache,
                            int64_t layerIndex) const {
        const int64_t b = x.size(0), t = x.size(1);
        const int64_t h = config.numHeads, kvh = config.numKvHeads, d = config.headDim;
        auto q = layer.q(x).view({b, t, h, d}).transpose(1, 2);
        auto k = layer.k(x).view({b, t, kvh, d}).transpose(1, 2);
        auto v = layer.v(x).view({b, t, kvh, d}).transpose(1, 2);
        q = applyRotary(q, cos, sin);
        k = applyRotary(k, cos, sin);
        if (cache)
            std::tie(k, v) = cache->append(layerIndex, k, v);
        const int64_t s = k.size(2);
        const int64_t groups = h / kvh;
        // Grouped-query attention without repeating K/V: the `groups` query heads that share a KV
        // head are stacked along the sequence axis, so one batched matmul serves them all.
        auto qg = q.reshape({b, kvh, groups * t, d});
        auto scores = torch::matmul(qg, k.transpose(-1, -2)) * (1.0 / std::sqrt(double(d)));
        scores = scores.view({b, kvh, groups, t, s});
        const double lowest = std::numeric_limits<float>::lowest();
        auto probs = scores.to(torch::kFloat32)
                         .masked_fill(allowed.logical_not().unsqueeze(2), lowest)
                         .softmax(-1)
                         .to(x.scalar_type());
        auto out = torch::matmul(probs.view({b, kvh, groups * t, s}), v);  // [B, kvh, G*T, d]
        out = out.view({b, h, t, d}).transpose(1, 2).reshape({b, t, h * d});
        return layer.o(out);
    }
};

CausalLM::CausalLM() : m_impl(std::make_unique<Impl>()) {}
CausalLM::~CausalLM() = default;

const ModelConfig &CausalLM::config() const { return m_impl->config; }
torch::ScalarType CausalLM::dtype() const { return m_impl->options.dtype; }
torch::Device CausalLM::device() const { return m_impl->options.device; }

std::unique_ptr<CausalLM> CausalLM::load(const std::string &modelDir, const ModelLoadOptions &options) {
    if (!fs::is_directory(modelDir))
        throw invalidInput(modelDir + ": not a folder (expected an HF model folder with config.json)");
    std::unique_ptr<CausalLM> model(new CausalLM());
    Impl &m = *model->m_impl;
    m.options = options;
    m.config = ModelConfig::fromFile((fs::path(modelDir) / "config.json").string());
    const auto &c = m.config;
    const auto ckpt = SafetensorsCheckpoint::openDir(modelDir);

    m.embedTokens = readCheckpointTensor(ckpt, "model.embed_tokens.weight", {c.vocabSize, c.hiddenSize},
                                         options.dtype, options.device);
    const int64_t qOut = c.numHeads * c.headDim, kvOut = c.numKvHeads * c.headDim;
    for (int64_t i = 0; i < c.numLayers; ++i) {
        const std::string p = "model.layers." + std::to_string(i);
        DecoderLayer layer;
        layer.inputNorm = readCheckpointTensor(ckpt, p + ".input_layernorm.weight", {c.hiddenSize}, options.dtype, options.device);
        layer.postAttentionNorm = readCheckpointTensor(ckpt, p + ".post_attention_layernorm.weight", {c.hiddenSize},
                                                       options.dtype, options.device);
        layer.q = m.loadLinear(ckpt, p + ".self_attn.q_proj", c.hiddenSize, qOut, c.qkvBias);
        layer.k = m.loadLinear(ckpt, p + ".self_attn.k_proj", c.hiddenSize, kvOut, c.qkvBias);
        layer.v = m.loadLinear(ckpt, p + ".self_attn.v_proj", c.hiddenSize, kvOut, c.qkvBias);
        layer.o = m.loadLinear(ckpt, p + ".self_attn.o_proj", qOut, c.hiddenSize, c.oBias);
        layer.gate = m.loadLinear(ckpt, p + ".mlp.gate_proj", c.hiddenSize, c.intermediateSize, c.mlpBias);
        layer.up = m.loadLinear(ckpt, p + ".mlp.up_proj", c.hiddenSize, c.intermediateSize, c.mlpBias);
        layer.down = m.loadLinear(ckpt, p + ".mlp.down_proj", c.intermediateSize, c.hiddenSize, c.mlpBias);
        m.layers.push_back(std::move(layer));
    }
    m.finalNorm = readCheckpointTensor(ckpt, "model.norm.weight", {c.hiddenSize}, options.dtype, options.device);
    // Tied checkpoints may still store lm_head.weight; transformers ignores it then, and so do we.
    m.lmHead = c.tieWordEmbeddings ? m.embedTokens
                                   : readCheckpointTensor(ckpt, "lm_head.weight", {c.vocabSize, c.hiddenSize},
                                                          options.dtype, options.device);
    m.rotary = std::make_unique<RotaryEmbedding>(c);
    return model;
}

torch::Tensor CausalLM::forward(const torch::Tensor &inputIds, const torch::Tensor &attentionMask,
                                KvCache *cache) const {
    const Impl &m = *m_impl;
    if (inputIds.dim() != 2)
        throw invalidInput("forward: input ids must have shape [batch, tokens]");
    auto ids = inputIds.to(m.options.device);
    const int64_t b = ids.size(0), t = ids.size(1);
    const int64_t past = cache ? cache->length() : 0;
    if (cache && past + t > cache->capacity())
        throw invalidInput("forward: the KV cache holds " + std::to_string(cache->capacity()) + " positions");
    if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= m.config.vocabSize))
        throw invalidInput("forward: token ids must be in [0, " + std::to_string(m.config.vocabSize) + ")");
    if (attentionMask.defined() && (attentionMask.dim() != 2 || attentionMask.size(0) != b ||
                                    attentionMask.size(1) != past + t))
        throw invalidInput("forward: attention mask must have shape [batch, past + tokens]");

    auto positions = torch::arange(past, past + t, torch::TensorOptions().dtype(torch::kLong).device(m.options.device))
                         .unsqueeze(0)
                         .expand({b, t});
    auto [cos, sin] = m.rotary->cosSin(positions, m.options.dtype);
    auto allowed = m.allowedMask(b, past, t, attentionMask, false);
    torch::Tensor windowed;
    if (m.config.slidingWindow)
        windowed = m.allowedMask(b, past, t, attentionMask, true);

    auto x = torch::embedding(m.embedTokens, ids);
    for (size_t i = 0; i < m.layers.size(); ++i) {
        const auto &layer = m.layers[i];
        const bool useWindow = windowed.defined() && int64_t(i) >= m.config.slidingWindowFromLayer;
        x = x + m.attention(layer, rmsNorm(x, layer.inputNorm, m.config.rmsNormEps), cos, sin,
                            useWindow ? windowed : allowed, cache, int64_t(i));
        auto h = rmsNorm(x, layer.postAttentionNorm, m.config.rmsNormEps);
        x = x + layer.down(torch::silu(layer.gate(h)) * layer.up(h));
    }
    if (cache)
        cache->advance(t);
    x = rmsNorm(x, m.finalNorm, m.config.rmsNormEps);
    return torch::linear(x, m.lmHead);
}

KvCache::KvCache(const ModelConfig &config, int64_t batch, int64_t maxLength, torch::ScalarType dtype,
                 torch::Device device)
    : m_capacity(maxLength) {
    auto options = torch::TensorOptions().dtype(dtype).device(device);
    for (int64_t i = 0; i < config.numLayers; ++i) {
        m_keys.push_back(torch::empty({batch, config.numKvHeads, maxLength, config.headDim}, options));
        m_values.push_back(torch::empty({batch, config.numKvHeads, maxLength, config.headDim}, options));
    }
}

std::pair<torch::Tensor, torch::Tensor> KvCache::append(int64_t layer, const torch::Tensor &keys,
                                                        const torch::Tensor &values) {
    const int64_t t = keys.size(2);
    m_keys[layer].narrow(2, m_length, t).copy_(keys);
    m_values[layer].narrow(2, m_length, t).copy_(values);
    return {m_keys[layer].narrow(2, 0, m_length + t), m_values[layer].narrow(2, 0, m_length + t)};
}

torch::Tensor causalLmLoss(const torch::Tensor &logits, const torch::Tensor &labels) {
    const int64_t v = logits.size(-1);
    auto shiftedLogits = logits.narrow(1, 0, logits.size(1) - 1).reshape({-1, v}).to(torch::kFloat32);
    auto shiftedLabels = labels.narrow(1, 1, labels.size(1) - 1).reshape({-1}).to(logits.device());
    return torch::nn::functional::cross_entropy(
        shiftedLogits, shiftedLabels,
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kMean));
}

torch::ScalarType parseComputeDtype(const std::string &name, const std::string &context) {
    if (name == "float32" || name == "fp32")
        return torch::kFloat32;
    if (name == "bfloat16" || name == "bf16")
        return torch::kBFloat16;
    if (name == "float16" || name == "fp16")
        return torch::kFloat16;
    throw invalidInput(context + ": dtype '" + name + "' is not one of float32, bfloat16, float16");
}

std::string dtypeName(torch::ScalarType dtype) {
    switch (dtype) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: return c10::toString(dtype);
    }
}

} // namespace headroom
