// The architecture of a decoder-only model, read from a Hugging Face config.json.
//
// ModelConfig::fromFile() parses and validates config.json once; everything else (the model, the
// memory estimator, inspect, the studio) reads this struct. Supported: LlamaForCausalLM,
// MistralForCausalLM, Qwen2ForCausalLM and checkpoints with the same block (SmolLM/SmolLM2,
// TinyLlama). Anything else is refused by name. Field defaults follow transformers' config classes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace headroom {

struct RopeScaling {
    enum class Type { None, Linear, Llama3 };
    Type type = Type::None;
    double factor = 1.0;
    double lowFreqFactor = 1.0; // llama3 only
    double highFreqFactor = 4.0; // llama3 only
    int64_t originalMaxPositions = 8192; // llama3 only
};

struct ModelConfig {
    std::string architecture; // e.g. "LlamaForCausalLM"
    std::string modelType; // e.g. "llama"
    int64_t hiddenSize = 0;
    int64_t intermediateSize = 0;
    int64_t numLayers = 0;
    int64_t numHeads = 0;
    int64_t numKvHeads = 0;
    int64_t headDim = 0;
    int64_t vocabSize = 0;
    int64_t maxPositions = 2048;
    double rmsNormEps = 1e-6;
    double ropeTheta = 10000.0;
    RopeScaling ropeScaling;
    bool tieWordEmbeddings = false;
    bool qkvBias = false; // Qwen2 always; Llama with attention_bias
    bool oBias = false; // Llama with attention_bias
    bool mlpBias = false; // Llama with mlp_bias
    std::optional<int64_t> slidingWindow; // Mistral; Qwen2 with use_sliding_window
    int64_t slidingWindowFromLayer = 0; // Qwen2: only layers >= max_window_layers use the window
    std::string torchDtype = "float32"; // the checkpoint's dtype as config.json states it
    std::optional<int64_t> bosTokenId;
    std::vector<int64_t> eosTokenIds;

    static ModelConfig fromFile(const std::string &configPath);
    // `context` names the source in error messages (a path, or "bundled config NAME").
    static ModelConfig fromJson(const nlohmann::json &json, const std::string &context);

    // Parameter counts from the architecture alone (no weights needed).
    int64_t embeddingParameters() const;
    int64_t layerParameters() const; // one decoder block
    int64_t totalParameters() const; // embeddings + blocks + final norm + lm_head when untied
};

} // namespace headroom
