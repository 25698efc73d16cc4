// suggestFit(): the first change that brings an estimate under a budget, in this order: a smaller
// micro-batch (the same effective batch through accumulation: a divisor of micro-batch x
// accumulation), a shorter sequence, gradient
// checkpointing, 4-bit quantization. A later lever keeps the earlier ones at their limit, except the
// sequence, which each lever keeps as long as fits.
#include "headroom/memory_estimate.h"

#include <functional>

namespace headroom {

namespace {

constexpr int64_t kMinSeqLength = 128;
constexpr int64_t kSeqStep = 64;

bool fits(const ModelConfig &config, const EstimateSettings &s, int64_t budget, bool allocatorCap) {
    return estimateMemory(config, s).budgetedBytes(allocatorCap) <= budget;
}

// The largest value in [low, high] (multiples of `step` above `low`) for which `set` makes it fit;
// 0 when none does. Memory grows with each of these settings, so the search is binary.
int64_t largestFitting(const ModelConfig &config, EstimateSettings s, int64_t budget, bool allocatorCap, int64_t low,
                       int64_t high, int64_t step, const std::function<void(EstimateSettings &, int64_t)> &set) {
    int64_t best = 0;
    int64_t lo = 0, hi = (high - low) / step; // candidate i is low + i * step
    while (lo <= hi) {
        const int64_t mid = (lo + hi) / 2;
        set(s, low + mid * step);
        if (fits(config, s, budget, allocatorCap)) {
            best = low + mid * step;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return best;
}

} // namespace

std::optional<FitSuggestion> suggestFit(const ModelConfig &config, const EstimateSettings &settings,
                                        int64_t budgetBytes, bool allocatorCap) {
    EstimateSettings s = settings;
    const int64_t perDevice = s.microBatch * s.accumulation;
    auto setBatch = [perDevice](EstimateSettings &e, int64_t batch) {
        e.microBatch = batch;
        e.accumulation = (perDevice + batch - 1) / batch;
    };
    auto setSeq = [](EstimateSettings &e, int64_t seq) { e.seqLength = seq; };
    // The settings as they stand, or with the longest sequence that fits; nullopt if neither does.
    auto fitted = [&](std::string change) -> std::optional<FitSuggestion> {
        if (!fits(config, s, budgetBytes, allocatorCap)) {
            const int64_t seq = s.seqLength > kMinSeqLength
                                    ? largestFitting(config, s, budgetBytes, allocatorCap, kMinSeqLength,
                                                     s.seqLength - 1, kSeqStep, setSeq)
                                    : 0;
            if (seq == 0)
                return std::nullopt;
            s.seqLength = seq;
            change += (change.empty() ? "" : ", ") + std::string("sequence length ") + std::to_string(seq);
        }
        if (s.microBatch != settings.microBatch)
            change = "micro-batch " + std::to_string(s.microBatch) + " with accumulation " +
                     std::to_string(s.accumulation) + (change.empty() ? "" : ", ") + change;
        FitSuggestion suggestion{s, estimateMemory(config, s), change};
        s.seqLength = settings.seqLength;
        return suggestion;
    };
    if (s.microBatch > 1) {
        // Only divisors of the per-device batch keep the effective batch exactly (micro-batch 6 would
        // turn 8 x 4 into 6 x 6 = 36); a smaller one fits whenever a larger one does.
        int64_t batch = largestFitting(config, s, budgetBytes, allocatorCap, 1, s.microBatch - 1, 1, setBatch);
        while (batch > 1 && perDevice % batch != 0)
            --batch;
        setBatch(s, std::max<int64_t>(batch, 1));
        if (batch > 0)
            return fitted("");
    }
    if (auto suggestion = fitted(""))
        return suggestion;
    if (!s.gradientCheckpointing) {
        s.gradientCheckpointing = true;
        if (auto suggestion = fitted("gradient checkpointing on"))
            return suggestion;
    }
    if (s.quant == WeightQuant::None) {
        s.quant = WeightQuant::NF4;
        if (auto suggestion = fitted(std::string(settings.gradientCheckpointing ? "" : "gradient checkpointing on, ") +
                                     "4-bit NF4 quantization"))
            return suggestion;
    }
    return std::nullopt;
}

nlohmann::json fitOverrides(const EstimateSettings &current, const EstimateSettings &fit) {
    nlohmann::json overrides = nlohmann::json::object();
    if (fit.microBatch != current.microBatch)
        overrides["training.per_device_train_batch_size"] = fit.microBatch;
    if (fit.accumulation != current.accumulation)
        overrides["training.gradient_accumulation_steps"] = fit.accumulation;
    if (fit.seqLength != current.seqLength)
        overrides["dataset.max_seq_length"] = fit.seqLength;
    if (fit.gradientCheckpointing != current.gradientCheckpointing)
        overrides["training.gradient_checkpointing"] = fit.gradientCheckpointing;
    if (fit.quant != current.quant) {
        overrides["quantization.load_in_4bit"] = fit.quant != WeightQuant::None;
        if (fit.quant != WeightQuant::None)
            overrides["quantization.bnb_4bit_quant_type"] = choiceName(quant4TypeOf(fit.quant));
    }
    return overrides;
}

} // namespace headroom
