// Gradient checkpointing for one decoder layer (LibTorch C++ has no torch.utils.checkpoint).
// Forward runs the layer without building a graph and keeps only its input; backward re-runs the
// layer with gradients enabled and the random-number state of the first run restored (so LoRA
// dropout draws the same masks), then back-propagates through that recomputation.
#pragma once

#include <torch/torch.h>

#include "model/decoder_layer.h"

namespace headroom {

torch::Tensor checkpointedLayerForward(const DecoderLayer &layer, const torch::Tensor &x, const LayerInputs &inputs,
                                       const ModelConfig &config);

} // namespace headroom
