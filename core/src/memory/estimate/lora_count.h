// LoRA parameter arithmetic from a model config alone (no weights): what PEFT's
// print_trainable_parameters() reports, and what the memory estimator and the studio show.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "headroom/model_config.h"

namespace headroom {

// The seven linear modules of a Llama-family block, in PEFT's order of "all-linear".
const std::vector<std::string> &allLinearModules();
// Expands {"all-linear"} and validates the names; throws invalidInput naming `field`.
std::vector<std::string> resolveTargetModules(const std::vector<std::string> &targets, const std::string &field);
// The module's path in an HF checkpoint: model.layers.<layer>.self_attn.q_proj, ...mlp.gate_proj.
std::string modulePath(int64_t layer, const std::string &module);
// (in, out) features of a module in a block.
std::pair<int64_t, int64_t> moduleShape(const ModelConfig &config, const std::string &module);
// r * (in + out) per targeted module, times the layers.
int64_t loraParameterCount(const ModelConfig &config, int64_t r, const std::vector<std::string> &targets);

} // namespace headroom
