#include "memory/estimate_settings_on.h"

#include "headroom/runtime.h"

namespace headroom {

EstimateSettings estimateSettingsOn(const TrainConfig &config, const torch::Device &device) {
    EstimateSettings settings = EstimateSettings::fromTrainConfig(config, device.is_cuda() ? "cuda" : "cpu");
    settings.cudaCapability = cudaComputeCapability(device);
    return settings;
}

} // namespace headroom
