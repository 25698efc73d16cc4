// Rotary settings of config.json: rope_theta and rope_scaling as transformers 4.x writes them, and
// rope_parameters as transformers 5 does (one object, or one per layer type for Gemma 3).
#pragma once

#include <nlohmann/json.hpp>

#include "headroom/model_config.h"

namespace headroom::detail {

// Sets ropeTheta, ropeScaling and (Gemma 3) ropeLocalTheta. Needs maxPositions, headDim and
// partialRotaryFactor set already (longrope checks its factors against the rotary width).
void parseRope(const nlohmann::json &json, ModelConfig &config, const std::string &context);

} // namespace headroom::detail
