// The memory estimator: settings, the exactly counted categories (weights, adapters, gradients,
// optimizer), "other", and the report. Activations are in memory_estimate_activations.cpp.
#include "headroom/memory_estimate.h"

#include <algorithm>

#include "headroom/attention.h"
#include "headroom/error.h"
#include "memory/estimate/lora_count.h"
#include "headroom/train_config.h"

#include "memory/estimate/memory_estimate_internal.h"

namespace headroom {

namespace {

constexpr int64_t kMiB = 1024 * 1024;
// bitsandbytes' double quantization: the block scales are quantized in blocks of 256.
constexpr int64_t kNestedBlocksize = 256;
// 8-bit optimizers (optimizer.cpp): tensors of at least 4096 elements keep uint8 moments with a
// float32 scale per 256-element block; smaller ones keep float32 moments.
constexpr int64_t kMin8bitElements = 4096, k8bitBlocksize = 256;
// "other" on CPU: resident memory that the counting allocator does not hold (LibTorch's code and
// data, the tokenizer). Calibrated constant, not a formula: resident - reserved - malloc's free
// bytes measured 171-180 MiB (median 174) over the 88 rows of docs/memory.md's sweep.
constexpr int64_t kCpuProcessBaselineBytes = 175 * kMiB;
// "other" on CUDA: the context (about 500 MiB on recent drivers, outside the caching allocator;
// torch's cuBLAS workspaces come from the allocator and are counted under activations) plus what
// the caching allocator reserves beyond the bytes in use (fragmentation). Assumed constants: the
// H200 runs saw that reserve at 1-26% of the bytes in use and did not measure the context.
constexpr int64_t kCudaContextBytes = 500 * kMiB;
constexpr double kCudaAllocatorReserveFraction = 0.10;

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

void requireOneOf(const std::string &value, const std::vector<std::string> &valid, const std::string &flag) {
    if (std::find(valid.begin(), valid.end(), value) != valid.end())
        return;
    std::string list;
    for (const auto &v : valid)
        list += (list.empty() ? "" : ", ") + v;
    throw invalidInput(flag + ": '" + value + "' is not one of " + list);
}

void requirePositive(int64_t value, const std::string &flag) {
    if (value < 1)
        throw invalidInput(flag + ": must be at least 1, got " + std::to_string(value));
}

// Quant4Tensor::bytes() of a weight of `numel` elements quantized in-process (no stored nested map):
// packed nibbles, then a float32 absmax per block, or with double quantization a uint8 code per
// block + a float32 scale per 256 blocks + the float32 offset.
int64_t quant4Bytes(int64_t numel, int64_t blocksize, bool doubleQuant) {
    const int64_t blocks = ceilDiv(numel, blocksize);
    const int64_t packed = (numel + 1) / 2;
    return packed + (doubleQuant ? blocks + 4 * ceilDiv(blocks, kNestedBlocksize) + 4 : 4 * blocks);
}

// 8-bit AdamW's state for one tensor (AdamW8bit::stateBytes()).
int64_t eightBitStateBytes(int64_t numel) {
    return numel >= kMin8bitElements ? 2 * (numel + 4 * ceilDiv(numel, k8bitBlocksize)) : 2 * 4 * numel;
}

nlohmann::json termsJson(const std::vector<ActivationTerm> &terms) {
    auto out = nlohmann::json::array();
    for (const auto &t : terms)
        out.push_back({{"name", t.name}, {"bytes", t.bytes}});
    return out;
}

} // namespace

EstimateSettings EstimateSettings::fromTrainConfig(const TrainConfig &config) {
    EstimateSettings s;
    s.loraR = config.lora.r;
    s.loraAlpha = config.lora.loraAlpha;
    s.loraDropout = config.lora.loraDropout;
    s.targetModules = config.lora.targetModules;
    s.quant = config.weightQuant();
    s.doubleQuant = config.quantization.useDoubleQuant;
    s.quantBlocksize = config.quantization.blocksize;
    s.microBatch = config.training.perDeviceTrainBatchSize;
    s.accumulation = config.training.gradientAccumulationSteps;
    s.seqLength = config.dataset.maxSeqLength;
    s.precision = config.precision();
    s.gradientCheckpointing = config.training.gradientCheckpointing;
    s.optimizer = config.training.optim;
    s.device = config.device == "cpu" ? "cpu" : "cuda";
    s.attention = config.attnImplementation;
    return s;
}

EstimateSettings EstimateSettings::fromTrainConfig(const TrainConfig &config, const std::string &device) {
    EstimateSettings s = fromTrainConfig(config);
    s.device = device;
    return s;
}

void EstimateSettings::applyTo(TrainConfig &config) const {
    config.lora.r = loraR;
    config.lora.loraAlpha = loraAlpha;
    config.lora.loraDropout = loraDropout;
    config.lora.targetModules = targetModules;
    config.setWeightQuant(quant);
    config.quantization.useDoubleQuant = doubleQuant;
    config.quantization.blocksize = quantBlocksize;
    config.training.perDeviceTrainBatchSize = microBatch;
    config.training.gradientAccumulationSteps = accumulation;
    config.dataset.maxSeqLength = seqLength;
    config.setPrecision(precision);
    config.training.gradientCheckpointing = gradientCheckpointing;
    config.training.optim = optimizer;
    config.attnImplementation = attention;
    if (device == "cpu")
        config.device = "cpu";
}

void EstimateSettings::validate() const {
    requirePositive(loraR, "--r");
    requirePositive(microBatch, "--batch");
    requirePositive(accumulation, "--accum");
    requirePositive(gpus, "--gpus");
    if (seqLength < 2)
        throw invalidInput("--seq: must be at least 2 tokens (one input and one label), got " +
                           std::to_string(seqLength));
    requireOneOf(device, {"cpu", "cuda"}, "--device");
    if (quantBlocksize < 32 || quantBlocksize > 4096 || (quantBlocksize & (quantBlocksize - 1)) != 0)
        throw invalidInput("quantization.bnb_4bit_blocksize: " + std::to_string(quantBlocksize) +
                           " is not a power of two in 32..4096");
    if (loraDropout < 0 || loraDropout >= 1)
        throw invalidInput("lora.lora_dropout: must be in [0, 1)");
    resolveTargetModules(targetModules, "--targets");
}

int64_t EstimateSettings::computeBytes() const { return precision == Precision::FP32 ? 4 : 2; }

int linkedLibTorchVersion() { return HEADROOM_LIBTORCH_VERSION; } // core/CMakeLists.txt, from Torch_VERSION

nlohmann::json MemoryEstimate::toJson() const {
    return {{"trainable_params", trainableParameters},
            {"total_params", totalParameters},
            {"effective_batch", effectiveBatch},
            {"bytes",
             {{"weights", weights},
              {"adapters", adapters},
              {"gradients", gradients},
              {"optimizer", optimizer},
              {"activations", activations},
              {"other", other},
              {"total", total()}}},
            {"per_layer", termsJson(perLayer)},
            {"peak", {{"phase", peakPhase}, {"parts", termsJson(peakParts)}}},
            {"activation_scale", activationScale}};
}

int64_t estimateWeightBytes(const ModelConfig &c, const EstimateSettings &s) {
    const int64_t e = s.computeBytes();
    // Embeddings, final norm and an untied lm_head in the compute dtype (tied: one tensor).
    int64_t bytes =
        e * (c.vocabSize * c.hiddenSize + c.hiddenSize + (c.tieWordEmbeddings ? 0 : c.vocabSize * c.hiddenSize));
    int64_t layer = 0;
    for (const auto &norm : layerNormTensors(c, 0))
        layer += e * norm.shape[0];
    for (const auto &module : linearModules(c)) {
        const auto [in, out] = moduleShape(c, module);
        layer += s.quant == WeightQuant::None ? e * in * out : quant4Bytes(in * out, s.quantBlocksize, s.doubleQuant);
        layer += moduleHasBias(c, module) ? e * out : 0; // biases stay in the compute dtype
    }
    return bytes + c.numLayers * layer;
}

int64_t estimateOptimizerBytes(const ModelConfig &c, const EstimateSettings &s) {
    const auto targets = resolveTargetModules(c, s.targetModules, "--targets");
    if (s.optimizer == OptimizerKind::Sgd)
        return 0;
    int64_t perLayer = 0;
    for (const auto &module : targets) {
        const auto [in, out] = moduleShape(c, module);
        for (const int64_t numel : {s.loraR * in, out * s.loraR}) // A [r,in] and B [out,r]
            perLayer += s.optimizer == OptimizerKind::AdamWTorch ? 2 * 4 * numel : eightBitStateBytes(numel);
    }
    return c.numLayers * perLayer;
}

MemoryEstimate estimateMemory(const ModelConfig &config, const EstimateSettings &settings) {
    settings.validate();
    const auto targets = resolveTargetModules(config, settings.targetModules, "--targets");
    MemoryEstimate e;
    e.trainableParameters = loraParameterCount(config, settings.loraR, targets);
    e.totalParameters = config.totalParameters() + e.trainableParameters;
    e.effectiveBatch = settings.microBatch * settings.accumulation * settings.gpus;
    e.weights = estimateWeightBytes(config, settings);
    e.adapters = 4 * e.trainableParameters; // float32 masters
    e.gradients = 4 * e.trainableParameters; // float32, kept from the first backward on
    e.optimizer = estimateOptimizerBytes(config, settings);

    auto activations = detail::estimateActivations(config, settings, targets);
    e.activationScale = settings.activationScale;
    e.activations = int64_t(double(activations.peakBytes) * settings.activationScale);
    e.perLayer = std::move(activations.perLayer);
    e.peakParts = std::move(activations.peakParts);
    e.peakPhase = std::move(activations.peakPhase);

    e.outsideAllocator = settings.device == "cpu" ? kCpuProcessBaselineBytes : kCudaContextBytes;
    e.other = e.outsideAllocator +
              (settings.device == "cpu" ? 0 : int64_t(kCudaAllocatorReserveFraction * double(e.inUse())));
    return e;
}

std::vector<std::string> bundledModelNames() {
    std::vector<std::string> names;
    for (const auto &entry : detail::embeddedModelConfigs())
        names.push_back(entry.first);
    std::sort(names.begin(), names.end());
    return names;
}

ModelConfig bundledModelConfig(const std::string &name) {
    for (const auto &[bundled, text] : detail::embeddedModelConfigs())
        if (bundled == name)
            return ModelConfig::fromJson(nlohmann::json::parse(text), "bundled config " + name);
    std::string list;
    for (const auto &n : bundledModelNames())
        list += (list.empty() ? "" : ", ") + n;
    throw invalidInput("'" + name + "' is not a bundled model config (bundled: " + list + ")");
}

} // namespace headroom
