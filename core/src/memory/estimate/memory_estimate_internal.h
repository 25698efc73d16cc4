// Pieces of the memory estimator shared between its files (memory_estimate*.cpp).
#pragma once

#include <string>
#include <vector>

#include "headroom/memory_estimate.h"

namespace headroom::detail {

struct ActivationEstimate {
    int64_t peakBytes = 0; // the activations category: peak of the step minus the rest
    std::vector<ActivationTerm> perLayer; // one gradient-carrying layer's saved tensors
    std::vector<ActivationTerm> peakParts; // what is alive at the peak
    std::string peakPhase;
};

// targets: the resolved LoRA modules.
ActivationEstimate estimateActivations(const ModelConfig &config, const EstimateSettings &settings,
                                       const std::vector<std::string> &targets);

// The JSON text of the files embedded at build time (core/CMakeLists.txt generates them from
// resources/): model configs by name, and gpu-presets.json.
const std::vector<std::pair<std::string, std::string>> &embeddedModelConfigs();
const std::string &embeddedGpuPresets();

} // namespace headroom::detail
