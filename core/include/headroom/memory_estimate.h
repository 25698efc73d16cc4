// How much memory a fine-tuning run will take, from the model's config.json and the training
// settings alone: no weights are read and no tensor is allocated (torch-free, in headroom_base).
//
//   ModelConfig model = bundledModelConfig("llama-3.1-8b");  // or ModelConfig::fromFile(...)
//   EstimateSettings s = EstimateSettings::fromTrainConfig(config);  // or set the fields
//   s.device = "cuda";
//   MemoryEstimate e = estimateMemory(model, s);
//   bool fits = e.total() <= findGpuPreset("t4")->memoryBytes;
//
// The categories are those of docs/contracts.md (weights, adapters, gradients, optimizer, activations,
// other), counted for Headroom's own implementation, not for transformers': weights are the exact
// bytes CausalLM::baseWeightBytes() reports, adapters/gradients/optimizer the exact bytes of the
// LoRA tensors and of Optimizer::stateBytes(). Activations follow what our graph saves for backward
// (decoder_layer.cpp, linear.cpp, checkpointed_layer.cpp, chunked_loss.cpp), tensor by tensor, and
// the largest transient of the step; MemoryEstimate::perLayer lists one layer's saved tensors. The
// agreement test checks all of it against the counting allocator (docs/memory.md has the table).
// A short real run can calibrate the activation figure per model and device (calibration below).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "headroom/choices.h"
#include "headroom/model_config.h"

namespace headroom {

struct TrainConfig;

// The settings that change memory, with TrainConfig's defaults; choices by the CLI's names.
struct EstimateSettings {
    int64_t loraR = 16; // --r, lora.r
    double loraAlpha = 32; // --lora-alpha: no effect on memory, carried for the report
    double loraDropout = 0.05; // lora.lora_dropout: > 0 keeps a mask and a dropped copy of
        // every adapted module's input for backward
    std::vector<std::string> targetModules = {"q_proj", "k_proj", "v_proj", "o_proj"}; // --targets
    WeightQuant quant = WeightQuant::NF4; // --quant: none, nf4 or fp4
    bool doubleQuant = true; // --double-quant / --no-double-quant
    int64_t quantBlocksize = 64; // quantization.bnb_4bit_blocksize
    int64_t microBatch = 2; // --batch: rows per micro-batch
    int64_t accumulation = 16; // --accum: micro-batches per optimizer step
    int64_t seqLength = 512; // --seq: tokens per row (rows padded to it)
    Precision precision = Precision::BF16; // --precision: fp32, bf16 or fp16 (compute dtype)
    bool gradientCheckpointing = true; // --checkpointing / --no-checkpointing
    OptimizerKind optimizer = OptimizerKind::PagedAdamW8bit; // --optim
    int64_t gpus = 1; // --gpus: data-parallel replicas (memory is per device)
    std::string device = "cuda"; // cpu or cuda
    Attention attention = Attention::Sdpa; // --attn-implementation (headroom/attention.h)
    int cudaCapability = 0; // the card's compute capability x 10 (75 = 7.5); 0 = unknown
    int libtorchVersion = 0; // LibTorch that trains, major x 100 + minor (211 = 2.11); 0 =
        // the one this build links (linkedLibTorchVersion()), on
        // CUDA at least 2.5 (flash attention assumes it too: a plan
        // for a GPU made with a CPU-only 1.x build is for a 2.x one)
    double activationScale = 1.0; // measured/estimated activations from a calibration (1 = none)

    // The training configuration's values ("auto" device -> cuda; resolve it first where it matters).
    static EstimateSettings fromTrainConfig(const TrainConfig &config);
    // The same on a device already resolved: "cpu" or "cuda".
    static EstimateSettings fromTrainConfig(const TrainConfig &config, const std::string &device);
    // The other way: sets the memory settings of `config` (LoRA, quantization, micro-batch and
    // accumulation, sequence length, precision with its compute dtype, checkpointing, optimizer,
    // attention; the device when it is "cpu") from these.
    void applyTo(TrainConfig &config) const;
    // Throws invalidInput naming the CLI flag and the valid values.
    void validate() const;
    int64_t computeBytes() const; // bytes per element of the compute dtype: 4 or 2
};

// The LibTorch this build links, major x 100 + minor (113 = 1.13), as CMake found it.
int linkedLibTorchVersion();

// One tensor (or group of equal tensors) of the activation estimate.
struct ActivationTerm {
    std::string name; // what it holds, with its shape
    int64_t bytes = 0;
};

struct MemoryEstimate {
    int64_t weights = 0, adapters = 0, gradients = 0, optimizer = 0, activations = 0, other = 0;
    int64_t trainableParameters = 0;
    int64_t totalParameters = 0; // base + adapters, as the trainer reports them
    int64_t effectiveBatch = 0; // micro-batch x accumulation x GPUs
    // What one decoder layer keeps for backward while gradients flow through it (every layer
    // without checkpointing, the recomputed layer with it).
    std::vector<ActivationTerm> perLayer;
    // How the activation peak is made up: the parts alive at its moment, largest phase first.
    std::vector<ActivationTerm> peakParts;
    std::string peakPhase; // the phase of the step where the peak falls
    double activationScale = 1.0; // the calibration applied (1 = none)

    // The part of `other` that no allocator holds, so no budget on one bounds: the CPU process's
    // baseline, the CUDA context.
    int64_t outsideAllocator = 0;

    // The tensors' bytes: what an allocator's peak counts.
    int64_t inUse() const { return weights + adapters + gradients + optimizer + activations; }
    int64_t total() const { return inUse() + other; }
    // The bytes a budget bounds: all of them against a card's whole memory; without
    // outsideAllocator against a budget that caps an allocator (--budget / training.memory_budget:
    // the CPU's counting allocator, the CUDA caching allocator's memory fraction).
    int64_t budgetedBytes(bool allocatorCap) const { return allocatorCap ? total() - outsideAllocator : total(); }
    // {"trainable_params","total_params","effective_batch","bytes":{...},"per_layer":[...],
    //  "peak":{"phase","parts":[...]},"activation_scale"}
    nlohmann::json toJson() const;
};

MemoryEstimate estimateMemory(const ModelConfig &config, const EstimateSettings &settings);

// The parts of the estimate on their own (estimateMemory() adds them up).
int64_t estimateWeightBytes(const ModelConfig &config, const EstimateSettings &settings);
int64_t estimateOptimizerBytes(const ModelConfig &config, const EstimateSettings &settings);

// The first change that makes `settings` fit `budgetBytes` (MemoryEstimate::budgetedBytes), tried in this order: a smaller
// micro-batch (accumulation raised to keep the effective batch), a shorter sequence (down to 128),
// gradient checkpointing, 4-bit NF4 quantization; a later lever keeps the micro-batch at 1 and the
// longest sequence that fits. `change` says it in words ("micro-batch 1 with accumulation 32").
// std::nullopt when nothing fits (or when the settings fit already: check that first).
struct FitSuggestion {
    EstimateSettings settings;
    MemoryEstimate estimate;
    std::string change;
};
std::optional<FitSuggestion> suggestFit(const ModelConfig &config, const EstimateSettings &settings,
                                        int64_t budgetBytes, bool allocatorCap = false);
// The training-config fields a suggestion changes from `current`, for TrainConfig::applyOverrides:
// {"training.per_device_train_batch_size": 2, "quantization.load_in_4bit": true, ...}.
nlohmann::json fitOverrides(const EstimateSettings &current, const EstimateSettings &fit);

// Model configs bundled into the binary (resources/model-configs/*.json), by file name without
// .json ("llama-3.1-8b"), sorted.
std::vector<std::string> bundledModelNames();
// Throws invalidInput listing the bundled names when `name` is not one of them.
ModelConfig bundledModelConfig(const std::string &name);

// Calibration: a short real run (`headroom-cli estimate --calibrate`: one benchTraining() step of
// the same settings) measures the activations the estimate predicted; their ratio is cached per
// model architecture and device in a small JSON file and scales later estimates
// (EstimateSettings::activationScale). The cache maps calibrationKey() to {"ratio", "measured",
// "estimated"}; a missing or unreadable file is an empty cache.
std::string defaultCalibrationPath(); // $XDG_CACHE_HOME/headroom/calibration.json or ~/.cache/...
// "<architecture> h<hidden> i<inter> l<layers> a<heads> kv<kv heads> d<head dim> v<vocab>|<device>"
std::string calibrationKey(const ModelConfig &config, const std::string &device, Attention attention);
// Stores measured / estimated for the key and returns it. Throws runtimeFailure if the file
// cannot be written, invalidInput for non-positive figures.
double calibrateActivations(const std::string &cachePath, const std::string &key, int64_t measuredActivations,
                            int64_t estimatedActivations);
std::optional<double> calibrationRatio(const std::string &cachePath, const std::string &key);

} // namespace headroom
