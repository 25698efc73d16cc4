// LoRA parameter arithmetic from a model config alone (no weights): what PEFT's
// print_trainable_parameters() reports, and what the memory estimator and the studio show.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/model_layout.h"
#include "headroom/model_config.h"

namespace headroom {

// Expands {"all-linear"} and checks the names against every family's modules (a training config
// read before its model); throws invalidInput naming `field`.
std::vector<std::string> resolveTargetModules(const std::vector<std::string> &targets, const std::string &field);
// The same against `config`'s own modules: "all-linear" becomes linearModules(config).
std::vector<std::string> resolveTargetModules(const ModelConfig &config, const std::vector<std::string> &targets,
                                              const std::string &field);
// r * (in + out) per targeted module, times the layers.
int64_t loraParameterCount(const ModelConfig &config, int64_t r, const std::vector<std::string> &targets);

} // namespace headroom
