// Whether tensors hold only finite values, checked in one reduction that allocates nothing the size
// of the tensor: min and max (NaN propagates through both, an infinity shows in one of them), or for
// float16 a float32 sum (LibTorch has no float16 min-max on the CPU; no sum of float16 values leaves
// float32's range). Used where weights are read (the base model, adapters, checkpoints) and where a
// training run decides whether it diverged; on the CPU it costs a tenth of copying the tensor.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace headroom {

bool allFinite(const torch::Tensor &tensor);
// One read-back for all of them.
bool allFinite(const std::vector<torch::Tensor> &tensors);

// "3 NaN and 1 infinite values, the first at [2, 5]": the slow part, for the error message only.
std::string describeNonFinite(const torch::Tensor &tensor);

} // namespace headroom
