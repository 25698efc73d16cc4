// The largest micro-batch that fits (`headroom-cli find-batch`, the studio's "Find max batch").
//
// Each try trains real optimizer steps of the configuration at max_seq_length on random token rows
// (as benchTraining does) and sees whether it runs out of memory: a real out-of-memory error on
// CUDA, or the counting allocator's simulated budget anywhere. The search starts from the memory
// estimate's guess, doubles while tries fit and bisects between the last fit and the first failure.
// The result carries the gradient accumulation that reaches the target effective batch:
// effective = micro-batch x accumulation x GPUs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "headroom/train_config.h"

namespace headroom {

struct FindBatchTry {
    int64_t microBatch = 0;
    bool fits = false;
    int64_t peakBytes = 0; // measured peak of the try (0 when it ran out of memory)
    std::string error; // the out-of-memory message when it did not fit
    nlohmann::json toJson() const;
};

struct FindBatchOptions {
    int64_t budgetBytes = 0; // > 0: simulated budget; 0: the device's own memory
    int64_t targetEffectiveBatch = 32; // --target-effective-batch
    int64_t gpus = 1; // data-parallel replicas in the effective batch
    int64_t maxMicroBatch = 256; // upper bound of the search
    int steps = 1; // optimizer steps per try (the first allocates optimizer state)
    std::function<void(const FindBatchTry &)> onTry; // progress, called after every try
    std::function<bool()> cancelled; // polled between tries
};

struct FindBatchResult {
    int64_t maxMicroBatch = 0; // 0: not even micro-batch 1 fits
    int64_t gradientAccumulationSteps = 0;
    int64_t effectiveBatch = 0;
    int64_t startMicroBatch = 0; // the estimate's guess the search started from
    std::vector<FindBatchTry> tried; // in the order tried
    // {"max_micro_batch","gradient_accumulation_steps","effective_batch","tried":[...]}
    nlohmann::json toJson() const;
};

// Throws invalidInput for a bad configuration. When not even micro-batch 1 fits, maxMicroBatch is 0
// (the CLI makes that a runtime failure). A cancelled search returns what it found so far.
FindBatchResult findMaxMicroBatch(const TrainConfig &config, const FindBatchOptions &options);

// The accumulation that brings micro-batch x accumulation x gpus closest to the target from above
// (at least 1).
int64_t accumulationForTarget(int64_t microBatch, int64_t gpus, int64_t targetEffectiveBatch);

} // namespace headroom
