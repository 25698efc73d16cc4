// What `inspect` reports about an HF model folder, without loading the weights: the architecture
// from config.json, the storage dtype and parameter count from the safetensors headers, the
// tokenizer file and the chat template. Torch-free, so the studio's model page can use it directly.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "headroom/model_config.h"

namespace headroom {

struct ModelSummary {
    ModelConfig config;
    int64_t parameters = 0; // stored parameters the model uses, tied embeddings counted once
    std::vector<std::string> unusedTensors; // stored but not used (a vision tower), by name
    std::string dtype; // storage dtype of the weights, e.g. "bfloat16"
    std::string tokenizer; // "tokenizer.json" or "tokenizer.model"
    std::string chatTemplate; // the family its markers tell ("llama3", "qwen3", "gemma", ...), "custom" or "none"
    uint64_t checkpointBytes = 0;

    // Validates the folder (config.json, every safetensors header, the tokenizer); throws invalidInput.
    static ModelSummary inspect(const std::string &modelDir);
    // The `inspect --json` object of docs/contracts.md.
    nlohmann::json toJson() const;
};

// Tensor names grouped for a message: "412 tensors: vision_tower.* (400), multi_modal_projector.* (12)",
// layer numbers folded ("model.layers.N.self_attn.rotary_emb.inv_freq (22)").
std::string describeTensorNames(const std::vector<std::string> &names);

} // namespace headroom
