#include "headroom/model_config.h"

#include <set>

#include <nlohmann/json.hpp>

#include "headroom/error.h"
#include "io/json_text.h"

namespace headroom {
namespace {

const std::set<std::string> kSupportedArchitectures = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};

int64_t requirePositive(const nlohmann::json &json, const char *field, const std::string &context) {
    if (!json.contains(field))
        throw invalidInput(context + ": missing field '" + field + "' (a positive integer)");
    const auto &value = json.at(field);
    if (!value.is_number_integer() || value.get<int64_t>() <= 0)
        throw invalidInput(context + ": field '" + field + "' must be a positive integer, got " + value.dump());
    return value.get<int64_t>();
}

template <typename T>
T optionalField(const nlohmann::json &json, const char *field, T fallback, const std::string &context) {
    if (!json.contains(field) || json.at(field).is_null())
        return fallback;
    try {
        return json.at(field).get<T>();
    } catch (const nlohmann::json::exception &) {
        throw invalidInput(context + ": field '" + field + "' has the wrong type: " + json.at(field).dump());
    }
}

// transformers v5 writes rope_parameters (with rope_theta inside); v4 writes rope_scaling.
const char *ropeKey(const nlohmann::json &json) {
    return json.contains("rope_parameters") && json.at("rope_parameters").is_object() ? "rope_parameters"
                                                                                      : "rope_scaling";
}

RopeScaling parseRopeScaling(const nlohmann::json &json, const std::string &context) {
    RopeScaling scaling;
    const char *key = ropeKey(json);
    if (!json.contains(key) || json.at(key).is_null())
        return scaling;
    const auto &rs = json.at(key);
    if (!rs.is_object())
        throw invalidInput(context + ": field '" + key + "' must be an object or null");
    // transformers accepts the older key "type" as well as "rope_type".
    std::string type = rs.contains("rope_type") ? rs.value("rope_type", "") : rs.value("type", "");
    if (type == "default" || type.empty())
        return scaling;
    scaling.factor = optionalField<double>(rs, "factor", 1.0, context + " rope_scaling");
    if (type == "linear") {
        scaling.type = RopeScaling::Type::Linear;
    } else if (type == "llama3") {
        scaling.type = RopeScaling::Type::Llama3;
        scaling.lowFreqFactor = optionalField<double>(rs, "low_freq_factor", 1.0, context);
        scaling.highFreqFactor = optionalField<double>(rs, "high_freq_factor", 4.0, context);
        scaling.originalMaxPositions = optionalField<int64_t>(rs, "original_max_position_embeddings", 8192, context);
    } else {
        throw invalidInput(context + ": rope_scaling type '" + type +
                           "' is not supported (supported: none, linear, llama3)");
    }
    if (scaling.factor <= 0)
        throw invalidInput(context + ": rope_scaling.factor must be positive");
    return scaling;
}

} // namespace

ModelConfig ModelConfig::fromFile(const std::string &configPath) {
    return fromJson(detail::readJsonFile(configPath, "an HF model folder needs a config.json"), configPath);
}

ModelConfig ModelConfig::fromJson(const nlohmann::json &json, const std::string &context) {
    if (!json.is_object())
        throw invalidInput(context + ": expected a JSON object");
    ModelConfig c;
    if (!json.contains("architectures") || !json.at("architectures").is_array() || json.at("architectures").empty() ||
        !json.at("architectures")[0].is_string())
        throw invalidInput(context + ": missing 'architectures' (e.g. [\"LlamaForCausalLM\"])");
    c.architecture = json.at("architectures")[0].get<std::string>();
    if (!kSupportedArchitectures.count(c.architecture))
        throw invalidInput(context + ": architecture '" + c.architecture +
                           "' is not supported (supported: LlamaForCausalLM, MistralForCausalLM, "
                           "Qwen2ForCausalLM and checkpoints with the same block)");
    c.modelType = optionalField<std::string>(json, "model_type", "", context);
    const std::string act = optionalField<std::string>(json, "hidden_act", "silu", context);
    if (act != "silu")
        throw invalidInput(context + ": hidden_act '" + act + "' is not supported (supported: silu)");

    c.hiddenSize = requirePositive(json, "hidden_size", context);
    c.intermediateSize = requirePositive(json, "intermediate_size", context);
    c.numLayers = requirePositive(json, "num_hidden_layers", context);
    c.numHeads = requirePositive(json, "num_attention_heads", context);
    c.vocabSize = requirePositive(json, "vocab_size", context);
    c.numKvHeads = json.contains("num_key_value_heads") && !json.at("num_key_value_heads").is_null()
                       ? requirePositive(json, "num_key_value_heads", context)
                       : c.numHeads;
    if (c.numHeads % c.numKvHeads != 0)
        throw invalidInput(context + ": num_attention_heads (" + std::to_string(c.numHeads) +
                           ") must be a multiple of num_key_value_heads (" + std::to_string(c.numKvHeads) + ")");
    if (json.contains("head_dim") && !json.at("head_dim").is_null()) {
        c.headDim = requirePositive(json, "head_dim", context);
    } else {
        if (c.hiddenSize % c.numHeads != 0)
            throw invalidInput(context + ": hidden_size must be a multiple of num_attention_heads");
        c.headDim = c.hiddenSize / c.numHeads;
    }
    if (c.headDim % 2 != 0)
        throw invalidInput(context + ": head_dim must be even for rotary embeddings");
    c.maxPositions = optionalField<int64_t>(json, "max_position_embeddings", 2048, context);
    c.rmsNormEps = optionalField<double>(json, "rms_norm_eps", 1e-6, context);
    c.ropeTheta = optionalField<double>(json, "rope_theta", 10000.0, context);
    if (std::string(ropeKey(json)) == "rope_parameters")
        c.ropeTheta = optionalField<double>(json.at("rope_parameters"), "rope_theta", c.ropeTheta, context);
    c.ropeScaling = parseRopeScaling(json, context);
    c.tieWordEmbeddings = optionalField<bool>(json, "tie_word_embeddings", false, context);
    c.torchDtype = optionalField<std::string>(json, "torch_dtype",
                                              optionalField<std::string>(json, "dtype", "float32", context), context);

    if (c.architecture == "Qwen2ForCausalLM") {
        c.qkvBias = true; // Qwen2Attention always builds q/k/v with bias and o_proj without
        // Real Qwen2.5 configs carry sliding_window with use_sliding_window false: then it is unused.
        if (optionalField<bool>(json, "use_sliding_window", false, context)) {
            c.slidingWindow = optionalField<int64_t>(json, "sliding_window", 4096, context);
            c.slidingWindowFromLayer = optionalField<int64_t>(json, "max_window_layers", 0, context);
        }
    } else {
        const bool attentionBias = optionalField<bool>(json, "attention_bias", false, context);
        c.qkvBias = c.oBias = attentionBias;
        c.mlpBias = optionalField<bool>(json, "mlp_bias", false, context);
        if (c.architecture == "MistralForCausalLM" && json.contains("sliding_window") &&
            !json.at("sliding_window").is_null())
            c.slidingWindow = optionalField<int64_t>(json, "sliding_window", 4096, context);
    }

    if (json.contains("bos_token_id") && json.at("bos_token_id").is_number_integer())
        c.bosTokenId = json.at("bos_token_id").get<int64_t>();
    if (json.contains("eos_token_id")) {
        const auto &eos = json.at("eos_token_id");
        if (eos.is_number_integer())
            c.eosTokenIds.push_back(eos.get<int64_t>());
        else if (eos.is_array())
            for (const auto &id : eos)
                if (id.is_number_integer())
                    c.eosTokenIds.push_back(id.get<int64_t>());
    }
    return c;
}

int64_t ModelConfig::embeddingParameters() const { return vocabSize * hiddenSize; }

int64_t ModelConfig::layerParameters() const {
    const int64_t qOut = numHeads * headDim;
    const int64_t kvOut = numKvHeads * headDim;
    int64_t attention = hiddenSize * (qOut + 2 * kvOut) + qOut * hiddenSize;
    if (qkvBias)
        attention += qOut + 2 * kvOut;
    if (oBias)
        attention += hiddenSize;
    int64_t mlp = 3 * hiddenSize * intermediateSize;
    if (mlpBias)
        mlp += 2 * intermediateSize + hiddenSize;
    return attention + mlp + 2 * hiddenSize; // + input and post-attention RMSNorm weights
}

int64_t ModelConfig::totalParameters() const {
    return embeddingParameters() + numLayers * layerParameters() + hiddenSize +
           (tieWordEmbeddings ? 0 : vocabSize * hiddenSize);
}

} // namespace headroom
