// Copies tensors out of a memory-mapped safetensors checkpoint into LibTorch tensors, one at a time,
// releasing the mapped pages after each copy so loading never holds a second full copy of the weights.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "headroom/safetensors.h"

namespace headroom {

torch::ScalarType toTorchDtype(Dtype dtype, const std::string &context);

// Reads `name`, checks its shape against `expectedShape`, and returns it as `dtype` on `device`.
torch::Tensor readCheckpointTensor(const SafetensorsCheckpoint &checkpoint, const std::string &name,
                                   const std::vector<int64_t> &expectedShape, torch::ScalarType dtype,
                                   torch::Device device);

} // namespace headroom
