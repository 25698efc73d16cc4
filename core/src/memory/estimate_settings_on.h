// The memory estimate's settings for a run on a real device, private to the engine.
#pragma once

#include <torch/torch.h>

#include "headroom/memory_estimate.h"
#include "headroom/train_config.h"

namespace headroom {

// The settings of `config` run on `device`: its kind and, on CUDA, its compute capability (which
// decides whether fused attention runs torch's flash kernel there).
EstimateSettings estimateSettingsOn(const TrainConfig &config, const torch::Device &device);

} // namespace headroom
