#include "headroom/model_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "config/config_json_fields.h"
#include "config/model_config_families.h"
#include "config/model_config_rope.h"
#include "io/json_text.h"

namespace headroom {

using detail::hasValue;
using detail::optionalField;
using detail::requirePositiveField;

namespace {

Activation parseActivation(const nlohmann::json &json, const char *field, const std::string &fallback,
                           const std::string &context) {
    const std::string act = optionalField<std::string>(json, field, fallback, context);
    if (act == "silu")
        return Activation::Silu;
    if (act == "gelu_pytorch_tanh")
        return Activation::GeluTanh;
    throw invalidInput(context + ": " + field + " '" + act + "' is not supported (supported: silu, gelu_pytorch_tanh)");
}

std::vector<LayerAttention> parseLayerTypes(const nlohmann::json &json, int64_t layers, const std::string &context) {
    const auto &list = json.at("layer_types");
    if (!list.is_array() || int64_t(list.size()) != layers)
        throw invalidInput(context + ": 'layer_types' must list one entry per layer (" + std::to_string(layers) + ")");
    std::vector<LayerAttention> out;
    for (size_t i = 0; i < list.size(); ++i) {
        const std::string type = list[i].is_string() ? list[i].get<std::string>() : list[i].dump();
        if (type == "full_attention")
            out.push_back(LayerAttention::Full);
        else if (type == "sliding_attention")
            out.push_back(LayerAttention::Sliding);
        else
            throw invalidInput(context + ": layer_types[" + std::to_string(i) + "] '" + type +
                               "' is not supported (supported: full_attention, sliding_attention)");
    }
    return out;
}

std::vector<int64_t> tokenIds(const nlohmann::json &value) {
    std::vector<int64_t> ids;
    if (value.is_number_integer())
        ids.push_back(value.get<int64_t>());
    else if (value.is_array())
        for (const auto &id : value)
            if (id.is_number_integer())
                ids.push_back(id.get<int64_t>());
    return ids;
}

} // namespace

ModelConfig ModelConfig::fromFile(const std::string &configPath) {
    return fromJson(detail::readJsonFile(configPath, "an HF model folder needs a config.json"), configPath);
}

ModelConfig ModelConfig::fromJson(const nlohmann::json &root, const std::string &context) {
    if (!root.is_object())
        throw invalidInput(context + ": expected a JSON object");
    if (!root.contains("architectures") || !root.at("architectures").is_array() || root.at("architectures").empty() ||
        !root.at("architectures")[0].is_string())
        throw invalidInput(context + ": missing 'architectures' (e.g. [\"LlamaForCausalLM\"])");
    ModelConfig c;
    c.architecture = root.at("architectures")[0].get<std::string>();
    const auto &family = detail::familyOf(c.architecture, context);
    std::string where = context;
    nlohmann::json json = detail::textModelJson(root, family, c, where);
    c.modelType = family.textModelType;

    c.hiddenSize = requirePositiveField(json, "hidden_size", where);
    c.intermediateSize = requirePositiveField(json, "intermediate_size", where);
    c.numLayers = requirePositiveField(json, "num_hidden_layers", where);
    c.numHeads = requirePositiveField(json, "num_attention_heads", where);
    c.vocabSize = requirePositiveField(json, "vocab_size", where);
    c.numKvHeads =
        hasValue(json, "num_key_value_heads") ? requirePositiveField(json, "num_key_value_heads", where) : c.numHeads;
    if (c.numHeads % c.numKvHeads != 0)
        throw invalidInput(where + ": num_attention_heads (" + std::to_string(c.numHeads) +
                           ") must be a multiple of num_key_value_heads (" + std::to_string(c.numKvHeads) + ")");
    if (hasValue(json, "head_dim")) {
        c.headDim = requirePositiveField(json, "head_dim", where);
    } else {
        if (c.hiddenSize % c.numHeads != 0)
            throw invalidInput(where + ": hidden_size must be a multiple of num_attention_heads");
        c.headDim = c.hiddenSize / c.numHeads;
    }
    c.partialRotaryFactor = optionalField<double>(json, "partial_rotary_factor", 1.0, where);
    if (!(c.partialRotaryFactor > 0 && c.partialRotaryFactor <= 1))
        throw invalidInput(where + ": partial_rotary_factor must be in (0, 1]");
    if (c.rotaryDim() % 2 != 0 || c.rotaryDim() == 0)
        throw invalidInput(where +
                           ": head_dim x partial_rotary_factor must be a positive even number for rotary "
                           "embeddings, got " +
                           std::to_string(c.rotaryDim()));
    c.maxPositions = optionalField<int64_t>(json, "max_position_embeddings", 2048, where);
    c.rmsNormEps = optionalField<double>(json, "rms_norm_eps", 1e-6, where);
    c.tieWordEmbeddings = optionalField<bool>(json, "tie_word_embeddings", false, where);
    c.torchDtype = optionalField<std::string>(
        json, "torch_dtype",
        optionalField<std::string>(json, "dtype", optionalField<std::string>(root, "torch_dtype", "float32", context),
                                   where),
        where);
    detail::parseRope(json, c, where);
    const bool gemma = c.modelType == "gemma2" || c.modelType == "gemma3_text";
    c.activation = gemma ? parseActivation(json, "hidden_activation", "gelu_pytorch_tanh", where)
                         : parseActivation(json, "hidden_act", "silu", where);

    detail::applyFamilyRules(json, c, where);
    if (hasValue(json, "layer_types"))
        c.layerTypes = parseLayerTypes(json, c.numLayers, where);
    if (c.slidingWindow && *c.slidingWindow < 1)
        throw invalidInput(where + ": sliding_window must be at least 1");

    for (const nlohmann::json *source : {static_cast<const nlohmann::json *>(&json), &root}) {
        if (!c.bosTokenId && source->contains("bos_token_id") && source->at("bos_token_id").is_number_integer())
            c.bosTokenId = source->at("bos_token_id").get<int64_t>();
        if (c.eosTokenIds.empty() && source->contains("eos_token_id"))
            c.eosTokenIds = tokenIds(source->at("eos_token_id"));
    }
    return c;
}

int64_t ModelConfig::rotaryDim() const { return int64_t(double(headDim) * partialRotaryFactor); }

double ModelConfig::attentionScale() const { return 1.0 / std::sqrt(queryPreAttnScalar.value_or(double(headDim))); }

int64_t ModelConfig::embeddingParameters() const { return vocabSize * hiddenSize; }

int64_t ModelConfig::layerParameters() const {
    const int64_t qOut = numHeads * headDim;
    const int64_t kvOut = numKvHeads * headDim;
    int64_t attention = hiddenSize * (qOut + 2 * kvOut) + qOut * hiddenSize;
    if (qkvBias)
        attention += qOut + 2 * kvOut;
    if (oBias)
        attention += hiddenSize;
    if (qkNorm)
        attention += 2 * headDim;
    int64_t mlp = 3 * hiddenSize * intermediateSize;
    if (mlpBias)
        mlp += 2 * intermediateSize + hiddenSize;
    const int64_t norms = (sandwichNorms ? 4 : 2) * hiddenSize;
    return attention + mlp + norms;
}

int64_t ModelConfig::totalParameters() const {
    return embeddingParameters() + numLayers * layerParameters() + hiddenSize +
           (tieWordEmbeddings ? 0 : vocabSize * hiddenSize);
}

} // namespace headroom
