#include "train/out_of_memory.h"

#include "headroom/gpu_presets.h"
#include "memory/estimate_settings_on.h"

namespace headroom {

namespace {

std::string microBatchChange(const TrainingSettings &t, int64_t micro, int64_t accumulation) {
    return "micro-batch " + std::to_string(t.perDeviceTrainBatchSize) + " -> " + std::to_string(micro) +
           " with accumulation " + std::to_string(t.gradientAccumulationSteps) + " -> " + std::to_string(accumulation) +
           " keeps effective batch " + std::to_string(micro * accumulation);
}

// The budget that was crossed: the one set, else (a CPU without one) this machine's memory.
int64_t budgetOf(const torch::Device &device) {
    const int64_t budget = deviceMemoryBudget(device);
    return budget > 0 ? budget : findGpuPreset("cpu")->memoryBytes;
}

} // namespace

void OutOfMemoryAdvisor::recordStep(const ModelConfig &shape, const TrainConfig &config, const torch::Device &device,
                                    int64_t rowLength, const MemoryBreakdown &measured) {
    if (measured.activations <= 0)
        return;
    auto settings = estimateSettingsOn(config, device);
    settings.seqLength = rowLength;
    const int64_t estimated = estimateMemory(shape, settings).activations;
    if (estimated > 0)
        m_activationRatio = double(measured.activations) / double(estimated);
}

OutOfMemoryEvent OutOfMemoryAdvisor::diagnose(const TrainConfig &config, const CausalLM &model, int64_t optimizerBytes,
                                              const torch::Device &device, int64_t step, int64_t rowLength,
                                              const std::string &message) const {
    const auto &t = config.training;
    OutOfMemoryEvent e;
    e.step = step;
    e.message = message;
    e.budgetBytes = budgetOf(device);
    const int64_t weights = model.baseWeightBytes();
    int64_t adapters = 0;
    for (const auto &p : model.loraParameters())
        adapters += p.tensor.numel() * int64_t(p.tensor.element_size());
    e.fixedBytes = weights + 2 * adapters + optimizerBytes; // gradients: one fp32 copy of the adapters
    e.category = weights > e.budgetBytes ? "weights" : e.fixedBytes > e.budgetBytes ? "optimizer" : "activations";

    const ModelConfig &shape = model.config();
    const auto current = estimateSettingsOn(config, device);
    auto thisStep = current;
    thisStep.seqLength = rowLength;
    const bool allocatorCap = deviceBudgetCapsAllocator(device);
    // The estimate with the measured fixed bytes and the calibrated activations in place of its own,
    // keeping what it adds on top (on CUDA the caching allocator's reserve beyond the bytes in use).
    auto predictedTotal = [&](const EstimateSettings &s) {
        const auto estimate = estimateMemory(shape, s);
        const int64_t inUse = e.fixedBytes + int64_t(m_activationRatio * double(estimate.activations));
        return estimate.budgetedBytes(allocatorCap) - estimate.inUse() + inUse;
    };
    if (e.category == "activations") {
        // The largest proper divisor of the micro-batch predicted to fit: accumulation grows by the
        // same factor, so every optimizer step still sees the same examples.
        const int64_t micro = t.perDeviceTrainBatchSize;
        int64_t chosen = 0;
        for (int64_t d = micro - 1; d >= 1 && !chosen; --d) {
            auto s = thisStep;
            s.microBatch = d;
            if (micro % d == 0 && predictedTotal(s) <= e.budgetBytes)
                chosen = d;
        }
        if (chosen > 0) {
            const int64_t accumulation = t.gradientAccumulationSteps * (micro / chosen);
            e.change = microBatchChange(t, chosen, accumulation);
            e.overrides = {{"training.per_device_train_batch_size", chosen},
                           {"training.gradient_accumulation_steps", accumulation}};
            return e;
        }
        if (!t.gradientCheckpointing) {
            e.change = "gradient checkpointing on";
            e.overrides = {{"training.gradient_checkpointing", true}};
            return e;
        }
    }
    // Nothing the running run can change fits: what a fresh run could do.
    suggestFreshRun(shape, current, allocatorCap, e);
    return e;
}

OutOfMemoryEvent OutOfMemoryAdvisor::diagnoseLoading(const TrainConfig &config, const torch::Device &device,
                                                     const std::string &message) const {
    OutOfMemoryEvent e;
    e.message = message;
    e.category = "weights";
    e.budgetBytes = budgetOf(device);
    const auto shape = ModelConfig::fromFile(config.model + "/config.json");
    const auto current = estimateSettingsOn(config, device);
    e.fixedBytes = estimateWeightBytes(shape, current);
    suggestFreshRun(shape, current, deviceBudgetCapsAllocator(device), e);
    return e;
}

void OutOfMemoryAdvisor::suggestFreshRun(const ModelConfig &shape, const EstimateSettings &current, bool allocatorCap,
                                         OutOfMemoryEvent &e) const {
    auto s = current;
    s.activationScale = m_activationRatio;
    const auto fit = suggestFit(shape, s, e.budgetBytes, allocatorCap);
    if (!fit)
        return;
    e.change = fit->change;
    e.needsRestart = true;
    e.overrides = fitOverrides(current, fit->settings);
}

} // namespace headroom
