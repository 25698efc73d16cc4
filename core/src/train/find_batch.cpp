#include "headroom/find_batch.h"

#include <filesystem>

#include "headroom/bench.h"
#include "headroom/error.h"
#include "headroom/gpu_presets.h"
#include "headroom/memory.h"
#include "headroom/memory_estimate.h"
#include "headroom/runtime.h"
#include "memory/cuda_memory.h"
#include "memory/estimate_settings_on.h"

namespace headroom {

namespace fs = std::filesystem;

nlohmann::json FindBatchTry::toJson() const {
    nlohmann::json json = {{"micro_batch", microBatch}, {"fits", fits}, {"peak_bytes", peakBytes}};
    if (!error.empty())
        json["error"] = error;
    return json;
}

nlohmann::json FindBatchResult::toJson() const {
    nlohmann::json tries = nlohmann::json::array();
    for (const auto &t : tried)
        tries.push_back(t.toJson());
    return {{"max_micro_batch", maxMicroBatch},
            {"gradient_accumulation_steps", gradientAccumulationSteps},
            {"effective_batch", effectiveBatch},
            {"start_micro_batch", startMicroBatch},
            {"tried", tries}};
}

int64_t accumulationForTarget(int64_t microBatch, int64_t gpus, int64_t targetEffectiveBatch) {
    const int64_t perAccumulation = std::max<int64_t>(1, microBatch * gpus);
    return std::max<int64_t>(1, (targetEffectiveBatch + perAccumulation - 1) / perAccumulation);
}

namespace {

struct SearchBudget {
    int64_t bytes = 0;
    bool capsAllocator = true; // MemoryEstimate::budgetedBytes
};

// The budget tries run against: the option, else the configuration's memory_budget, else the
// card's memory (CUDA) or this machine's RAM (CPU: without a limit a try would swap, not fail).
// A budget caps an allocator (the CPU's always, CUDA's below the card's memory); the card's whole
// memory does not.
SearchBudget searchBudget(const TrainConfig &config, const FindBatchOptions &options, const torch::Device &device) {
    int64_t bytes = options.budgetBytes;
    if (bytes <= 0)
        bytes = parseMemoryBudget(config.training.memoryBudget, "training.memory_budget");
    if (device.is_cpu())
        return {bytes > 0 ? bytes : findGpuPreset("cpu")->memoryBytes, true};
    const int64_t card = cudaTotalMemory(device);
    return bytes > 0 && bytes < card ? SearchBudget{bytes, true} : SearchBudget{card, false};
}

// The largest micro-batch the estimate expects to fit, at least 1.
int64_t estimatedStart(const TrainConfig &config, const torch::Device &device, const SearchBudget &budget,
                       int64_t maxMicro) {
    const auto model = ModelConfig::fromFile((fs::path(config.model) / "config.json").string());
    auto settings = estimateSettingsOn(config, device);
    int64_t start = 1;
    for (int64_t b = 1; b <= maxMicro; ++b) {
        settings.microBatch = b;
        if (estimateMemory(model, settings).budgetedBytes(budget.capsAllocator) > budget.bytes)
            break;
        start = b;
    }
    return start;
}

} // namespace

FindBatchResult findMaxMicroBatch(const TrainConfig &config, const FindBatchOptions &options) {
    config.validate("find-batch");
    if (options.maxMicroBatch < 1 || options.targetEffectiveBatch < 1 || options.gpus < 1 || options.steps < 1)
        throw invalidInput("find-batch: the upper bound, target effective batch, GPUs and steps must be at least 1");
    const torch::Device device = resolveDevice(config.device);
    const SearchBudget budget = searchBudget(config, options, device);

    FindBatchResult result;
    result.startMicroBatch = estimatedStart(config, device, budget, options.maxMicroBatch);
    auto attempt = [&](int64_t microBatch) {
        TrainConfig c = config;
        c.training.perDeviceTrainBatchSize = microBatch;
        c.training.gradientAccumulationSteps = 1;
        c.training.memoryBudget = std::to_string(budget.bytes);
        c.training.onOom = "stop";
        c.training.memoryTimelineStep = 0;
        const BenchRow row =
            benchTraining(c, config.dataset.maxSeqLength, options.steps, 0, {{"micro_batch", microBatch}});
        releaseCachedMemory(device);
        FindBatchTry t;
        t.microBatch = microBatch;
        t.fits = row.error.empty();
        t.peakBytes = t.fits ? row.peakBytes : 0;
        t.error = row.error;
        result.tried.push_back(t);
        if (options.onTry)
            options.onTry(t);
        return t.fits;
    };
    auto cancelled = [&] { return options.cancelled && options.cancelled(); };

    // Invariant: every size <= fit fits (0: none known), every size >= fail does not.
    int64_t fit = 0, fail = options.maxMicroBatch + 1;
    int64_t next = result.startMicroBatch;
    while (fail - fit > 1 && !cancelled()) {
        if (attempt(next))
            fit = next;
        else
            fail = next;
        // Grow by doubling until the first failure, shrink by halving until the first fit, then bisect.
        if (fail > options.maxMicroBatch)
            next = std::min(fit * 2, options.maxMicroBatch);
        else if (fit == 0)
            next = std::max<int64_t>(1, fail / 2);
        else
            next = fit + (fail - fit) / 2;
        if (next <= fit || next >= fail)
            next = fit + (fail - fit) / 2;
    }
    result.maxMicroBatch = fit;
    if (fit > 0) {
        result.gradientAccumulationSteps = accumulationForTarget(fit, options.gpus, options.targetEffectiveBatch);
        result.effectiveBatch = fit * result.gradientAccumulationSteps * options.gpus;
    }
    return result;
}

} // namespace headroom
