#include "config/model_config_families.h"

#include "config/config_json_fields.h"

namespace headroom::detail {
namespace {

// Gemma2Config's defaults; Gemma3TextConfig keeps most of them and changes the rest.
const nlohmann::json &gemma2Defaults() {
    static const nlohmann::json defaults = {{"vocab_size", 256000},
                                            {"hidden_size", 2304},
                                            {"intermediate_size", 9216},
                                            {"num_hidden_layers", 26},
                                            {"num_attention_heads", 8},
                                            {"num_key_value_heads", 4},
                                            {"head_dim", 256},
                                            {"hidden_activation", "gelu_pytorch_tanh"},
                                            {"max_position_embeddings", 8192},
                                            {"rms_norm_eps", 1e-6},
                                            {"tie_word_embeddings", true},
                                            {"rope_theta", 10000.0},
                                            {"attention_bias", false},
                                            {"query_pre_attn_scalar", 256},
                                            {"sliding_window", 4096},
                                            {"final_logit_softcapping", 30.0},
                                            {"attn_logit_softcapping", 50.0}};
    return defaults;
}

const nlohmann::json &gemma3TextDefaults() {
    static const nlohmann::json defaults = [] {
        auto d = gemma2Defaults();
        d.update({{"vocab_size", 262208},
                  {"max_position_embeddings", 131072},
                  {"rope_theta", 1000000.0},
                  {"final_logit_softcapping", nullptr},
                  {"attn_logit_softcapping", nullptr},
                  {"rope_local_base_freq", 10000.0},
                  {"sliding_window_pattern", 6}});
        return d;
    }();
    return defaults;
}

// Defaults read from transformers' configuration_gemma2.py, configuration_gemma3.py
// (Gemma3TextConfig), configuration_qwen3.py, configuration_smollm3.py and configuration_phi3.py.
// Llama, Mistral and Qwen2 checkpoints always write the fields we need, so they have none here.
const std::vector<ModelFamily> &families() {
    static const std::vector<ModelFamily> list = {
        {"LlamaForCausalLM", "llama", "llama", nlohmann::json::object()},
        {"MistralForCausalLM", "mistral", "mistral", nlohmann::json::object()},
        {"Qwen2ForCausalLM", "qwen2", "qwen2", nlohmann::json::object()},
        {"Qwen3ForCausalLM",
         "qwen3",
         "qwen3",
         {{"vocab_size", 151936},
          {"hidden_size", 4096},
          {"intermediate_size", 22016},
          {"num_hidden_layers", 32},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 32},
          {"head_dim", 128},
          {"hidden_act", "silu"},
          {"max_position_embeddings", 32768},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", false},
          {"rope_theta", 10000.0},
          {"attention_bias", false},
          {"use_sliding_window", false},
          {"sliding_window", 4096},
          {"max_window_layers", 28}}},
        {"Gemma2ForCausalLM", "gemma2", "gemma2", gemma2Defaults()},
        {"Gemma3ForCausalLM", "gemma3_text", "gemma3_text", gemma3TextDefaults()},
        {"Gemma3ForConditionalGeneration", "gemma3", "gemma3_text", gemma3TextDefaults()},
        {"SmolLM3ForCausalLM",
         "smollm3",
         "smollm3",
         {{"vocab_size", 128256},
          {"hidden_size", 2048},
          {"intermediate_size", 11008},
          {"num_hidden_layers", 36},
          {"num_attention_heads", 16},
          {"num_key_value_heads", 4},
          {"hidden_act", "silu"},
          {"max_position_embeddings", 32768},
          {"rms_norm_eps", 1e-6},
          {"tie_word_embeddings", true},
          {"rope_theta", 2000000.0},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"use_sliding_window", false},
          {"sliding_window", nullptr},
          {"max_window_layers", 28},
          {"no_rope_layer_interval", 4}}},
        {"Phi3ForCausalLM",
         "phi3",
         "phi3",
         {{"vocab_size", 32064},
          {"hidden_size", 3072},
          {"intermediate_size", 8192},
          {"num_hidden_layers", 32},
          {"num_attention_heads", 32},
          {"hidden_act", "silu"},
          {"max_position_embeddings", 4096},
          {"original_max_position_embeddings", 4096},
          {"rms_norm_eps", 1e-5},
          {"tie_word_embeddings", false},
          {"rope_theta", 10000.0},
          {"partial_rotary_factor", 1.0},
          {"sliding_window", nullptr}}},
    };
    return list;
}

std::string supportedArchitectures() {
    std::string list;
    for (const auto &f : families())
        list += (list.empty() ? "" : ", ") + f.architecture;
    return list;
}

void checkModelType(const nlohmann::json &json, const std::string &expected, const std::string &architecture,
                    const std::string &context) {
    if (!hasValue(json, "model_type"))
        return;
    const auto &type = json.at("model_type");
    if (!type.is_string() || type.get<std::string>() != expected)
        throw invalidInput(context + ": model_type " + type.dump() + " is not supported for " + architecture +
                           " (supported: \"" + expected + "\")");
}

std::vector<LayerAttention> allLayers(int64_t layers, LayerAttention type) { return {size_t(layers), type}; }

// Qwen2/Qwen3: the window counts only with use_sliding_window, and then only from layer
// max_window_layers on (the layer_types their config classes derive).
void windowFromLayer(const nlohmann::json &json, ModelConfig &c, const std::string &context) {
    c.layerTypes = allLayers(c.numLayers, LayerAttention::Full);
    if (!optionalField<bool>(json, "use_sliding_window", false, context) || !hasValue(json, "sliding_window"))
        return;
    c.slidingWindow = optionalField<int64_t>(json, "sliding_window", 4096, context);
    const int64_t from = optionalField<int64_t>(json, "max_window_layers", 0, context);
    for (int64_t i = std::max<int64_t>(from, 0); i < c.numLayers; ++i)
        c.layerTypes[size_t(i)] = LayerAttention::Sliding;
}

// Mistral, Phi-3: a window, when configured, on every layer.
void windowOnEveryLayer(const nlohmann::json &json, ModelConfig &c, const std::string &context) {
    const bool window = hasValue(json, "sliding_window");
    if (window)
        c.slidingWindow = optionalField<int64_t>(json, "sliding_window", 4096, context);
    c.layerTypes = allLayers(c.numLayers, window ? LayerAttention::Sliding : LayerAttention::Full);
}

// Gemma 2/3: layer i slides unless (i + 1) is a multiple of the pattern (2 for Gemma 2).
// Gemma 3's attention never passes attn_logit_softcapping on (Gemma3Attention.forward in
// transformers 4.50 to 5), so only Gemma 2 reads it.
void gemmaRules(const nlohmann::json &json, ModelConfig &c, int64_t pattern, const std::string &context) {
    c.gemmaNorm = c.scaleEmbeddings = c.sandwichNorms = true;
    c.qkvBias = c.oBias = optionalField<bool>(json, "attention_bias", false, context);
    c.queryPreAttnScalar = optionalField<double>(json, "query_pre_attn_scalar", 256.0, context);
    if (c.modelType == "gemma2" && hasValue(json, "attn_logit_softcapping"))
        c.attnLogitSoftcap = optionalField<double>(json, "attn_logit_softcapping", 0.0, context);
    if (hasValue(json, "final_logit_softcapping"))
        c.finalLogitSoftcap = optionalField<double>(json, "final_logit_softcapping", 0.0, context);
    for (const auto &cap : {c.attnLogitSoftcap, c.finalLogitSoftcap})
        if (cap && *cap <= 0)
            throw invalidInput(context + ": soft-capping values must be positive (or null)");
    if (pattern < 1)
        throw invalidInput(context + ": sliding_window_pattern must be at least 1");
    if (hasValue(json, "sliding_window"))
        c.slidingWindow = optionalField<int64_t>(json, "sliding_window", 4096, context);
    c.layerTypes.clear();
    for (int64_t i = 0; i < c.numLayers; ++i)
        c.layerTypes.push_back((i + 1) % pattern != 0 ? LayerAttention::Sliding : LayerAttention::Full);
}

// SmolLM3: no_rope_layers[i] is 1 where layer i applies RoPE; without the list, every
// no_rope_layer_interval-th layer skips it.
void smolLm3RopeLayers(const nlohmann::json &json, ModelConfig &c, const std::string &context) {
    if (hasValue(json, "no_rope_layers")) {
        const auto &list = json.at("no_rope_layers");
        if (!list.is_array() || int64_t(list.size()) != c.numLayers)
            throw invalidInput(context + ": 'no_rope_layers' must list 0 or 1 for each of the " +
                               std::to_string(c.numLayers) + " layers");
        for (size_t i = 0; i < list.size(); ++i) {
            if (!list[i].is_number_integer() || (list[i].get<int64_t>() != 0 && list[i].get<int64_t>() != 1))
                throw invalidInput(context + ": no_rope_layers[" + std::to_string(i) + "] must be 0 or 1, got " +
                                   list[i].dump());
            c.ropeLayers.push_back(list[i].get<int64_t>() == 1);
        }
        return;
    }
    const int64_t interval = optionalField<int64_t>(json, "no_rope_layer_interval", 4, context);
    if (interval < 1)
        throw invalidInput(context + ": no_rope_layer_interval must be at least 1");
    for (int64_t i = 0; i < c.numLayers; ++i)
        c.ropeLayers.push_back((i + 1) % interval != 0);
}

} // namespace

const ModelFamily &familyOf(const std::string &architecture, const std::string &context) {
    for (const auto &f : families())
        if (f.architecture == architecture)
            return f;
    throw invalidInput(context + ": architecture '" + architecture + "' is not supported (supported: " +
                       supportedArchitectures() + ", and checkpoints with the same blocks)");
}

nlohmann::json textModelJson(const nlohmann::json &root, const ModelFamily &family, ModelConfig &c,
                             std::string &where) {
    checkModelType(root, family.modelType, family.architecture, where);
    nlohmann::json defaults = family.defaults;
    if (family.architecture != "Gemma3ForConditionalGeneration") {
        defaults.update(root);
        return defaults;
    }
    if (!root.contains("text_config") || !root.at("text_config").is_object())
        throw invalidInput(where + ": missing 'text_config' (the text model of Gemma3ForConditionalGeneration)");
    where += " text_config";
    checkModelType(root.at("text_config"), family.textModelType, family.architecture, where);
    defaults.update(root.at("text_config"));
    c.checkpointPrefix = "language_model.model.";
    c.modulePrefix = "model.language_model.";
    c.lmHeadTensor = "language_model.lm_head.weight";
    c.unusedTensorPrefixes = {"vision_tower.", "multi_modal_projector."};
    return defaults;
}

void applyFamilyRules(const nlohmann::json &json, ModelConfig &c, const std::string &context) {
    const auto &type = c.modelType;
    if (type == "qwen2") {
        c.qkvBias = true; // Qwen2Attention always builds q/k/v with bias and o_proj without
    } else if (type != "gemma2" && type != "gemma3_text") {
        c.qkvBias = c.oBias = optionalField<bool>(json, "attention_bias", false, context);
        c.mlpBias = optionalField<bool>(json, "mlp_bias", false, context);
    }
    if (type == "qwen2" || type == "qwen3")
        windowFromLayer(json, c, context);
    else if (type == "mistral" || type == "phi3")
        windowOnEveryLayer(json, c, context);
    else
        c.layerTypes = allLayers(c.numLayers, LayerAttention::Full);

    if (type == "qwen3") {
        c.qkNorm = true;
    } else if (type == "gemma2") {
        gemmaRules(json, c, 2, context);
    } else if (type == "gemma3_text") {
        // transformers 4.50-4.52 read sliding_window_pattern; 4.53+ derive layer_types from it (and
        // write them, which then take precedence).
        const int64_t pattern = optionalField<int64_t>(json, "sliding_window_pattern", 6, context);
        gemmaRules(json, c, pattern, context);
        c.qkNorm = true;
    } else if (type == "smollm3") {
        smolLm3RopeLayers(json, c, context);
        // SmolLM3Config: with use_sliding_window, the RoPE-free layers are the sliding ones.
        c.layerTypes = allLayers(c.numLayers, LayerAttention::Full);
        if (optionalField<bool>(json, "use_sliding_window", false, context) && hasValue(json, "sliding_window")) {
            c.slidingWindow = optionalField<int64_t>(json, "sliding_window", 4096, context);
            for (int64_t i = 0; i < c.numLayers; ++i)
                if (!c.ropeLayers[size_t(i)])
                    c.layerTypes[size_t(i)] = LayerAttention::Sliding;
        }
    } else if (type == "phi3") {
        c.fusedProjections = true;
        c.qkvBias = c.oBias = c.mlpBias = false;
    }
}

} // namespace headroom::detail
