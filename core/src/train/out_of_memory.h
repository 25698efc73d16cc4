// What to say and do when a training step runs out of memory: which category crossed the budget,
// and the smallest change that fits. Changes that a running run can take come first (a smaller
// micro-batch with proportionally more accumulation, so the examples of every optimizer step and
// the effective batch stay the same; then gradient checkpointing); otherwise the estimator's
// suggestion for a fresh run (shorter rows, 4-bit weights).
//
// The choice uses the memory estimator, corrected by what the last completed step measured: its
// activations / the estimate's for the same settings.
#pragma once

#include <string>

#include "headroom/causal_lm.h"
#include "headroom/memory.h"
#include "headroom/memory_estimate.h"
#include "headroom/train_config.h"
#include "headroom/training_events.h"

namespace headroom {

class OutOfMemoryAdvisor {
public:
    // After every completed step: keeps the measured / estimated activation ratio. `rowLength` is
    // the longest row of the step (micro-batches are padded to their longest row).
    void recordStep(const ModelConfig &shape, const TrainConfig &config, const torch::Device &device, int64_t rowLength,
                    const MemoryBreakdown &measured);
    OutOfMemoryEvent diagnose(const TrainConfig &config, const CausalLM &model, int64_t optimizerBytes,
                              const torch::Device &device, int64_t step, int64_t rowLength,
                              const std::string &message) const;

    // Out of memory before training started: the base model itself does not fit.
    OutOfMemoryEvent diagnoseLoading(const TrainConfig &config, const torch::Device &device,
                                     const std::string &message) const;

private:
    // allocatorCap: deviceBudgetCapsAllocator() (MemoryEstimate::budgetedBytes).
    void suggestFreshRun(const ModelConfig &shape, const EstimateSettings &current, bool allocatorCap,
                         OutOfMemoryEvent &e) const;
    double m_activationRatio = 1.0;
};

} // namespace headroom
