#include "headroom/causal_lm.h"

#include <cmath>
#include <filesystem>

#include "config/model_layout.h"
#include "headroom/attention.h"
#include "headroom/error.h"
#include "memory/estimate/lora_count.h"
#include "headroom/memory_timeline.h"
#include "headroom/safetensors.h"
#include "model/checkpoint_tensors.h"
#include "model/checkpointed_layer.h"
#include "model/decoder_layer.h"
#include "model/linear.h"
#include "model/prequantized.h"
#include "model/rotary.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

// Memory timeline marks: after layer i's forward, and (by a gradient hook on its output) when the
// backward pass has come back down to it, i.e. after the backward of every layer above it.
void markLayerTimeline(torch::Tensor &output, size_t layer) {
    markMemory("forward layer " + std::to_string(layer));
    if (output.requires_grad())
        output.register_hook([layer](const torch::Tensor &grad) {
            markMemory("backward reached layer " + std::to_string(layer) + " output");
            return grad;
        });
}

} // namespace

double LoraOptions::scaling() const { return useRslora ? alpha / std::sqrt(double(r)) : alpha / double(r); }

struct CausalLM::Impl {
    ModelConfig config;
    ModelLoadOptions options;
    torch::Tensor embedTokens; // [vocab, hidden]
    torch::Tensor finalNorm;
    torch::Tensor lmHead; // aliases embedTokens when tied
    std::vector<DecoderLayer> layers;
    std::unique_ptr<RotaryEmbedding> rotary;
    std::unique_ptr<RotaryEmbedding> localRotary; // Gemma 3's sliding layers
    std::vector<std::string> unused; // checkpoint tensors not read
    std::optional<LoraOptions> lora;
    bool checkpointing = false;

    Linear loadLinear(const SafetensorsCheckpoint &ckpt, const std::string &prefix, int64_t in, int64_t out,
                      bool bias) const {
        const auto &q = options.quantization;
        if (isPrequantized(ckpt, prefix)) {
            // Saved 4-bit by transformers + bitsandbytes: used as stored.
            Linear linear(torch::Tensor(),
                          bias ? readCheckpointTensor(ckpt, prefix + ".bias", {out}, options.dtype, options.device)
                               : torch::Tensor());
            linear.setQuantized(readPrequantized(ckpt, prefix, {out, in}, options.device));
            return linear;
        }
        // Quantize tensor by tensor while loading: peak memory stays near the 4-bit size plus one tensor.
        auto weight = readCheckpointTensor(ckpt, prefix + ".weight", {out, in},
                                           q.enabled ? torch::kFloat32 : options.dtype, options.device);
        torch::Tensor b;
        if (bias)
            b = readCheckpointTensor(ckpt, prefix + ".bias", {out}, options.dtype, options.device);
        Linear linear(std::move(weight), b);
        if (q.enabled)
            linear.quantize(q.type, q.blocksize, q.doubleQuant);
        return linear;
    }

    torch::Tensor norm(const SafetensorsCheckpoint &ckpt, const std::string &name) const {
        return readCheckpointTensor(ckpt, name, {config.hiddenSize}, options.dtype, options.device);
    }

    // Boolean [B, 1, T, S]: query i (absolute position past + i) may attend key j.
    torch::Tensor allowedMask(int64_t batch, int64_t past, int64_t t, const ForwardInputs &in, bool window) const {
        const auto longOnDevice = torch::TensorOptions().dtype(torch::kLong).device(options.device);
        auto queryPos = torch::arange(past, past + t, longOnDevice).view({t, 1});
        auto keyPos = torch::arange(0, past + t, longOnDevice).view({1, past + t});
        auto allowed = keyPos <= queryPos;
        // transformers' sliding window keeps keys with query - key < window.
        if (window)
            allowed = allowed & ((queryPos - keyPos) < *config.slidingWindow);
        allowed = allowed.view({1, 1, t, past + t});
        if (in.attentionMask.defined())
            allowed = allowed & in.attentionMask.to(options.device).to(torch::kBool).view({batch, 1, 1, past + t});
        if (in.segmentIds.defined()) {
            auto seg = in.segmentIds.to(options.device);
            allowed = allowed & (seg.unsqueeze(-1) == seg.unsqueeze(-2)).unsqueeze(1);
        }
        return allowed;
    }
};

CausalLM::CausalLM() : m_impl(std::make_unique<Impl>()) {}
CausalLM::~CausalLM() = default;

const ModelConfig &CausalLM::config() const { return m_impl->config; }
torch::ScalarType CausalLM::dtype() const { return m_impl->options.dtype; }
torch::Device CausalLM::device() const { return m_impl->options.device; }
const torch::Tensor &CausalLM::lmHeadWeight() const { return m_impl->lmHead; }
const LoraOptions *CausalLM::lora() const { return m_impl->lora ? &*m_impl->lora : nullptr; }
void CausalLM::setGradientCheckpointing(bool enabled) { m_impl->checkpointing = enabled; }
bool CausalLM::gradientCheckpointing() const { return m_impl->checkpointing; }

std::unique_ptr<CausalLM> CausalLM::load(const std::string &modelDir, const ModelLoadOptions &options) {
    if (!fs::is_directory(modelDir))
        throw invalidInput(modelDir + ": not a folder (expected an HF model folder with config.json)");
    std::unique_ptr<CausalLM> model(new CausalLM());
    Impl &m = *model->m_impl;
    m.options = options;
    m.config = ModelConfig::fromFile((fs::path(modelDir) / "config.json").string());
    const auto &c = m.config;
    const auto ckpt = SafetensorsCheckpoint::openDir(modelDir);

    m.embedTokens = readCheckpointTensor(ckpt, c.checkpointPrefix + "embed_tokens.weight", {c.vocabSize, c.hiddenSize},
                                         options.dtype, options.device);
    for (int64_t i = 0; i < c.numLayers; ++i) {
        DecoderLayer layer;
        layer.index = i;
        layer.fused = c.fusedProjections;
        for (const auto &norm : layerNormTensors(c, i))
            layer.normSlot(norm.name) =
                readCheckpointTensor(ckpt, norm.name, norm.shape, options.dtype, options.device);
        for (auto &[module, linear] : layer.linears()) {
            const auto [in, out] = moduleShape(c, module);
            *linear = m.loadLinear(ckpt, checkpointModulePath(c, i, module), in, out, moduleHasBias(c, module));
        }
        m.layers.push_back(std::move(layer));
    }
    m.finalNorm = m.norm(ckpt, c.checkpointPrefix + "norm.weight");
    // Tied checkpoints may still store lm_head.weight; transformers ignores it then, and so do we.
    m.lmHead = c.tieWordEmbeddings ? m.embedTokens
                                   : readCheckpointTensor(ckpt, c.lmHeadTensor, {c.vocabSize, c.hiddenSize},
                                                          options.dtype, options.device);
    m.rotary = std::make_unique<RotaryEmbedding>(c);
    if (c.ropeLocalTheta)
        m.localRotary = std::make_unique<RotaryEmbedding>(c, *c.ropeLocalTheta, RopeScaling{});
    m.unused = headroom::unusedTensors(c, ckpt.names());
    return model;
}

bool ForwardInputs::plainCausal() const {
    const bool history = cache && cache->length() > 0;
    return !history && !segmentIds.defined() && (!attentionMask.defined() || paddedOnTheRight);
}

torch::Tensor CausalLM::hiddenStates(const ForwardInputs &in) const {
    const Impl &m = *m_impl;
    if (!in.inputIds.defined() || in.inputIds.dim() != 2)
        throw invalidInput("forward: input ids must have shape [batch, tokens]");
    auto ids = in.inputIds.to(m.options.device);
    const int64_t b = ids.size(0), t = ids.size(1);
    const int64_t past = in.cache ? in.cache->length() : 0;
    if (in.cache && past + t > in.cache->capacity())
        throw invalidInput("forward: the KV cache holds " + std::to_string(in.cache->capacity()) + " positions");
    if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= m.config.vocabSize))
        throw invalidInput("forward: token ids must be in [0, " + std::to_string(m.config.vocabSize) + ")");
    if (in.attentionMask.defined() &&
        (in.attentionMask.dim() != 2 || in.attentionMask.size(0) != b || in.attentionMask.size(1) != past + t))
        throw invalidInput("forward: attention mask must have shape [batch, past + tokens]");

    auto positions =
        in.positions.defined()
            ? in.positions.to(m.options.device)
            : torch::arange(past, past + t, torch::TensorOptions().dtype(torch::kLong).device(m.options.device))
                  .unsqueeze(0)
                  .expand({b, t});
    LayerInputs layerInputs;
    std::tie(layerInputs.cos, layerInputs.sin) = m.rotary->cosSin(positions, m.options.dtype);
    if (m.localRotary)
        std::tie(layerInputs.cosLocal, layerInputs.sinLocal) = m.localRotary->cosSin(positions, m.options.dtype);
    layerInputs.allowed = m.allowedMask(b, past, t, in, false);
    // The window leaves out keys `window` or more positions back: none while past + t <= window.
    if (m.config.slidingWindow && past + t > *m.config.slidingWindow)
        layerInputs.allowedWindow = m.allowedMask(b, past, t, in, true);
    layerInputs.cache = in.cache;
    layerInputs.training = in.training;
    layerInputs.fusedAttention = m.options.attention == Attention::Sdpa;
    layerInputs.causal = in.plainCausal();

    auto x = torch::embedding(m.embedTokens, ids);
    // Gemma: times sqrt(hidden_size) rounded to the weights' dtype, as transformers does.
    if (m.config.scaleEmbeddings)
        x = x * torch::scalar_tensor(std::sqrt(double(m.config.hiddenSize)), x.options());
    const bool checkpoint = m.checkpointing && in.training && torch::GradMode::is_enabled() && !in.cache;
    // A checkpointed layer only produces gradients when its input requires them; the embedding is
    // frozen, so mark its output (transformers' enable_input_require_grads does the same).
    if (checkpoint)
        x.requires_grad_(true);
    const bool timeline = memoryTimelineActive() && torch::GradMode::is_enabled();
    for (size_t i = 0; i < m.layers.size(); ++i) {
        x = checkpoint ? checkpointedLayerForward(m.layers[i], x, layerInputs, m.config)
                       : m.layers[i].forward(x, layerInputs, m.config);
        if (timeline)
            markLayerTimeline(x, i);
    }
    if (in.cache)
        in.cache->advance(t);
    return rmsNorm(x, m.finalNorm, m.config.rmsNormEps, m.config.gemmaNorm);
}

torch::Tensor CausalLM::forward(const torch::Tensor &inputIds, const torch::Tensor &attentionMask,
                                KvCache *cache) const {
    ForwardInputs in;
    in.inputIds = inputIds;
    in.attentionMask = attentionMask;
    in.cache = cache;
    return logitsFromHidden(hiddenStates(in));
}

torch::Tensor CausalLM::logitsFromHidden(const torch::Tensor &hidden) const {
    auto logits = linearForward(hidden, m_impl->lmHead, {});
    if (const auto cap = m_impl->config.finalLogitSoftcap)
        logits = torch::tanh(logits / *cap) * *cap;
    return logits;
}

const std::vector<std::string> &CausalLM::unusedTensors() const { return m_impl->unused; }

void CausalLM::addLora(const LoraOptions &settings, uint64_t seed) {
    Impl &m = *m_impl;
    if (settings.r < 1)
        throw invalidInput("lora.r: must be at least 1");
    const auto targets = resolveTargetModules(m.config, settings.targetModules, "lora.target_modules");
    auto generator = at::detail::createCPUGenerator(seed);
    const auto fp32 = torch::TensorOptions().dtype(torch::kFloat32);
    for (auto &layer : m.layers) {
        for (auto &[name, linear] : layer.linears()) {
            if (std::find(targets.begin(), targets.end(), name) == targets.end())
                continue;
            LoraWeights w;
            // kaiming_uniform_(a=sqrt(5)) on [r, in]: bound = sqrt(6 / ((1 + a^2) * fan_in)) = 1 / sqrt(in).
            const double bound = 1.0 / std::sqrt(double(linear->inFeatures()));
            w.a = torch::empty({settings.r, linear->inFeatures()}, fp32).uniform_(-bound, bound, generator);
            w.b = torch::zeros({linear->outFeatures(), settings.r}, fp32);
            w.a = w.a.to(m.options.device).requires_grad_(true);
            w.b = w.b.to(m.options.device).requires_grad_(true);
            w.scaling = settings.scaling();
            w.dropout = settings.dropout;
            linear->setLora(std::move(w));
        }
    }
    m.lora = settings;
    m.lora->targetModules = targets;
}

std::vector<NamedTensor> CausalLM::loraParameters() const {
    std::vector<NamedTensor> out;
    for (const auto &layer : m_impl->layers) {
        for (const auto &[name, linear] : layer.linears()) {
            if (const auto *lora = linear->lora()) {
                const std::string base = "base_model.model." + peftModulePath(m_impl->config, layer.index, name);
                out.push_back({base + ".lora_A.weight", lora->a});
                out.push_back({base + ".lora_B.weight", lora->b});
            }
        }
    }
    return out;
}

int64_t CausalLM::trainableParameters() const {
    int64_t n = 0;
    for (const auto &p : loraParameters())
        n += p.tensor.numel();
    return n;
}

int64_t CausalLM::baseWeightBytes() const {
    const Impl &m = *m_impl;
    auto bytes = [](const torch::Tensor &t) { return t.numel() * int64_t(t.element_size()); };
    int64_t total = bytes(m.embedTokens) + bytes(m.finalNorm) + (m.config.tieWordEmbeddings ? 0 : bytes(m.lmHead));
    for (const auto &layer : m.layers) {
        for (const auto *norm : layer.norms())
            total += bytes(*norm);
        for (const auto &entry : layer.linears())
            total += entry.second->baseBytes();
    }
    return total;
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
