// Writes an HF model folder (config.json + model.safetensors) with random weights for a model
// config: the demo's base, benchmark models shaped like real ones (SmolLM2-135M, Llama-3.2-1B), and
// test fixtures. Weights are drawn as transformers' LlamaPreTrainedModel initialises them
// (N(0, initializer_range) for linear layers and the embedding, ones for RMSNorm) and generated one
// tensor at a time while streaming to disk, so a 1B model needs no more memory than its largest tensor.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace headroom {

struct RandomModelOptions {
    uint64_t seed = 1234;
    std::string dtype = "bfloat16"; // storage: float32, bfloat16, float16
    double embeddingStd = 0; // 0: initializer_range (transformers' init)
};

// `configJson` is an HF config.json object (validated with ModelConfig::fromJson); it is written
// to dir/config.json with torch_dtype set to the storage dtype.
void writeRandomModel(const nlohmann::json &configJson, const std::string &dir, const RandomModelOptions &options);

} // namespace headroom
