#include "config/model_config_rope.h"

#include <cmath>

#include "config/config_json_fields.h"

namespace headroom::detail {
namespace {

std::vector<double> factorList(const nlohmann::json &rope, const char *field, size_t expected,
                               const std::string &context) {
    if (!rope.contains(field) || !rope.at(field).is_array())
        throw invalidInput(context + ": longrope needs '" + field + "' (a list of " + std::to_string(expected) +
                           " numbers, one per rotary frequency)");
    std::vector<double> out;
    for (const auto &v : rope.at(field)) {
        if (!v.is_number() || v.get<double>() <= 0)
            throw invalidInput(context + ": '" + field + "' must hold positive numbers, got " + v.dump());
        out.push_back(v.get<double>());
    }
    if (out.size() != expected)
        throw invalidInput(context + ": '" + field + "' has " + std::to_string(out.size()) +
                           " entries; the rotary width " + std::to_string(2 * expected) + " needs " +
                           std::to_string(expected));
    return out;
}

// One rope_scaling / rope_parameters object. transformers accepts the older key "type" as well as
// "rope_type".
RopeScaling parseScaling(const nlohmann::json &top, const nlohmann::json &rope, const ModelConfig &c,
                         const std::string &context) {
    RopeScaling scaling;
    if (rope.is_null())
        return scaling;
    if (!rope.is_object())
        throw invalidInput(context + ": must be an object or null");
    const std::string type = rope.contains("rope_type") ? optionalField<std::string>(rope, "rope_type", "", context)
                                                        : optionalField<std::string>(rope, "type", "", context);
    if (type == "default" || type.empty())
        return scaling;
    scaling.factor = optionalField<double>(rope, "factor", 1.0, context);
    if (type == "linear") {
        scaling.type = RopeScaling::Type::Linear;
    } else if (type == "llama3") {
        scaling.type = RopeScaling::Type::Llama3;
        scaling.lowFreqFactor = optionalField<double>(rope, "low_freq_factor", 1.0, context);
        scaling.highFreqFactor = optionalField<double>(rope, "high_freq_factor", 4.0, context);
        scaling.originalMaxPositions = optionalField<int64_t>(rope, "original_max_position_embeddings", 8192, context);
    } else if (type == "longrope") {
        // transformers' _compute_longrope_parameters: Phi-3 keeps the pretrained context in a
        // top-level original_max_position_embeddings and derives the factor from the ratio.
        scaling.type = RopeScaling::Type::LongRope;
        const size_t frequencies = size_t(c.rotaryDim() / 2);
        scaling.shortFactor = factorList(rope, "short_factor", frequencies, context);
        scaling.longFactor = factorList(rope, "long_factor", frequencies, context);
        if (hasValue(top, "original_max_position_embeddings")) {
            scaling.originalMaxPositions = requirePositiveField(top, "original_max_position_embeddings", context);
            scaling.factor = double(c.maxPositions) / double(scaling.originalMaxPositions);
        } else {
            scaling.originalMaxPositions =
                optionalField<int64_t>(rope, "original_max_position_embeddings", c.maxPositions, context);
        }
        scaling.attentionFactor =
            hasValue(rope, "attention_factor")
                ? optionalField<double>(rope, "attention_factor", 1.0, context)
                : (scaling.factor <= 1.0
                       ? 1.0
                       : std::sqrt(1.0 + std::log(scaling.factor) / std::log(double(scaling.originalMaxPositions))));
        return scaling;
    } else {
        throw invalidInput(context + ": rope type '" + type +
                           "' is not supported (supported: default, linear, llama3, longrope)");
    }
    if (scaling.factor <= 0)
        throw invalidInput(context + ": factor must be positive");
    return scaling;
}

} // namespace

void parseRope(const nlohmann::json &json, ModelConfig &c, const std::string &context) {
    c.ropeTheta = optionalField<double>(json, "rope_theta", c.ropeTheta, context);
    if (c.modelType == "gemma3_text")
        c.ropeLocalTheta = optionalField<double>(json, "rope_local_base_freq", 10000.0, context);
    const bool v5 = json.contains("rope_parameters") && json.at("rope_parameters").is_object();
    if (!v5) {
        const auto rope = json.contains("rope_scaling") ? json.at("rope_scaling") : nlohmann::json();
        c.ropeScaling = parseScaling(json, rope, c, context + " rope_scaling");
        return;
    }
    const auto &params = json.at("rope_parameters");
    // Gemma 3 in transformers 5: {"full_attention": {...}, "sliding_attention": {...}}.
    if (params.contains("full_attention") || params.contains("sliding_attention")) {
        for (const char *key : {"full_attention", "sliding_attention"})
            if (!params.contains(key) || !params.at(key).is_object())
                throw invalidInput(context + ": rope_parameters needs '" + key + "' as an object");
        const auto &full = params.at("full_attention");
        const auto &sliding = params.at("sliding_attention");
        c.ropeTheta = optionalField<double>(full, "rope_theta", c.ropeTheta, context);
        c.ropeScaling = parseScaling(json, full, c, context + " rope_parameters.full_attention");
        c.ropeLocalTheta = optionalField<double>(sliding, "rope_theta", c.ropeLocalTheta.value_or(10000.0), context);
        if (parseScaling(json, sliding, c, context + " rope_parameters.sliding_attention").type !=
            RopeScaling::Type::None)
            throw invalidInput(context + ": rope_parameters.sliding_attention: only the default rope is supported "
                                         "on sliding layers");
        return;
    }
    c.ropeTheta = optionalField<double>(params, "rope_theta", c.ropeTheta, context);
    c.ropeScaling = parseScaling(json, params, c, context + " rope_parameters");
}

} // namespace headroom::detail
