// The random generators' state that a run keeps with its checkpoints: LibTorch's default CPU
// generator, and the compute device's when it is CUDA (LoRA dropout draws from it). A checkpoint
// stores them among its tensors under "rng.cpu" and "rng.cuda", so a resumed run draws the same
// dropout masks as the uninterrupted one; the trainer also takes them before each step, so that a
// step retried after running out of memory draws the same masks again.
#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

namespace headroom {

// Generator state tensors by checkpoint key.
using GeneratorStates = std::map<std::string, torch::Tensor>;

// The state of each generator that `device` (the compute device) trains with.
GeneratorStates generatorStates(const torch::Device &device);

// Sets each of those generators whose key `states` holds (a checkpoint's tensors, or
// generatorStates()); keys it does not hold, and any other tensors, are left alone.
void restoreGenerators(const GeneratorStates &states, const torch::Device &device);

} // namespace headroom
