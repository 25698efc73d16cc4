// LoRA adapters on disk in PEFT's layout, so `PeftModel.from_pretrained(base, dir)` loads ours and
// we load PEFT's: adapter_config.json (PEFT's LoraConfig fields, sorted, indent 2),
// adapter_model.safetensors (keys base_model.model.model.layers.N.<module>.lora_A/B.weight, float32,
// metadata {"format": "pt"}) and a README.md model card. Written into a temporary folder and
// renamed when complete, so a failure never leaves an adapter folder that looks whole.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "headroom/causal_lm.h"

namespace headroom {

struct AdapterCard {
    std::string baseModel; // base_model_name_or_path
    std::string dataset;
    int64_t steps = 0;
    double finalTrainLoss = 0;
    double finalEvalLoss = -1; // < 0: no evaluation
    nlohmann::json settings; // the training config, shown in the card
};

// PEFT's adapter_config.json for `lora`.
nlohmann::json peftAdapterConfig(const LoraOptions &lora, const std::string &baseModel);
void saveAdapter(const CausalLM &model, const std::string &dir, const AdapterCard &card);
// Adds adapters as adapter_config.json describes them and loads their weights. Throws invalidInput
// naming the file for anything PEFT-specific we do not support (DoRA, rank/alpha patterns, ...),
// and naming the tensor for NaN or infinite weights.
void loadAdapter(CausalLM &model, const std::string &dir);
// Throws invalidInput naming `file` and tensor `name` when `tensor` holds a NaN or an infinity.
void requireFiniteAdapter(const torch::Tensor &tensor, const std::string &file, const std::string &name);
// Reads adapter_config.json only.
LoraOptions readAdapterConfig(const std::string &dir);

} // namespace headroom
