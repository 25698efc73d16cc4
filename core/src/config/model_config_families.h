// The supported architectures and what each adds to the Llama block, as transformers' config
// classes define them (configuration_<family>.py): the model_type each states, the class defaults
// of fields hub files leave out, and the rules that derive biases, sliding layers, q/k norms,
// soft-capping and RoPE-free layers from the fields.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "headroom/model_config.h"

namespace headroom::detail {

struct ModelFamily {
    std::string architecture;
    std::string modelType; // what config.json's model_type says
    std::string textModelType; // the decoder's model_type (differs for a multimodal wrapper)
    nlohmann::json defaults; // transformers' config-class defaults for the fields we read
};

// Throws invalidInput naming the supported architectures.
const ModelFamily &familyOf(const std::string &architecture, const std::string &context);
// The decoder's settings: config.json itself, or Gemma3ForConditionalGeneration's text_config
// (then `where` names it and the checkpoint prefixes are set), over the family's defaults. Checks
// model_type against the family.
nlohmann::json textModelJson(const nlohmann::json &root, const ModelFamily &family, ModelConfig &config,
                             std::string &where);
// Biases, sliding window and layer types, and the family's features; reads modelType.
void applyFamilyRules(const nlohmann::json &json, ModelConfig &config, const std::string &context);

} // namespace headroom::detail
