#include "config/model_layout.h"

#include <algorithm>
#include <set>

#include "headroom/error.h"

namespace headroom {
namespace {

bool isAttentionModule(const std::string &module) {
    return module == "q_proj" || module == "k_proj" || module == "v_proj" || module == "o_proj" || module == "qkv_proj";
}

std::string blockPath(const std::string &prefix, int64_t layer, const std::string &module) {
    return prefix + "layers." + std::to_string(layer) + (isAttentionModule(module) ? ".self_attn." : ".mlp.") + module;
}

} // namespace

const std::vector<std::string> &linearModules(const ModelConfig &config) {
    static const std::vector<std::string> separate = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                      "gate_proj", "up_proj", "down_proj"};
    static const std::vector<std::string> fused = {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"};
    return config.fusedProjections ? fused : separate;
}

const std::vector<std::string> &knownLinearModules() {
    static const std::vector<std::string> all = {"q_proj",  "k_proj",    "v_proj",   "o_proj",      "gate_proj",
                                                 "up_proj", "down_proj", "qkv_proj", "gate_up_proj"};
    return all;
}

std::pair<int64_t, int64_t> moduleShape(const ModelConfig &c, const std::string &module) {
    const int64_t qOut = c.numHeads * c.headDim, kvOut = c.numKvHeads * c.headDim;
    if (module == "q_proj")
        return {c.hiddenSize, qOut};
    if (module == "k_proj" || module == "v_proj")
        return {c.hiddenSize, kvOut};
    if (module == "qkv_proj")
        return {c.hiddenSize, qOut + 2 * kvOut};
    if (module == "o_proj")
        return {qOut, c.hiddenSize};
    if (module == "gate_proj" || module == "up_proj")
        return {c.hiddenSize, c.intermediateSize};
    if (module == "gate_up_proj")
        return {c.hiddenSize, 2 * c.intermediateSize};
    if (module == "down_proj")
        return {c.intermediateSize, c.hiddenSize};
    throw invalidInput("unknown module '" + module + "'");
}

bool moduleHasBias(const ModelConfig &c, const std::string &module) {
    if (module == "o_proj")
        return c.oBias;
    return isAttentionModule(module) ? c.qkvBias : c.mlpBias;
}

std::string checkpointModulePath(const ModelConfig &c, int64_t layer, const std::string &module) {
    return blockPath(c.checkpointPrefix, layer, module);
}

std::string peftModulePath(const ModelConfig &c, int64_t layer, const std::string &module) {
    return blockPath(c.modulePrefix, layer, module);
}

std::vector<LayoutTensor> layerNormTensors(const ModelConfig &c, int64_t layer) {
    using R = LayoutTensor::Role;
    const std::string p = c.checkpointPrefix + "layers." + std::to_string(layer) + ".";
    std::vector<LayoutTensor> out = {{p + "input_layernorm.weight", {c.hiddenSize}, R::Norm},
                                     {p + "post_attention_layernorm.weight", {c.hiddenSize}, R::Norm}};
    if (c.sandwichNorms) {
        out.push_back({p + "pre_feedforward_layernorm.weight", {c.hiddenSize}, R::Norm});
        out.push_back({p + "post_feedforward_layernorm.weight", {c.hiddenSize}, R::Norm});
    }
    if (c.qkNorm) {
        out.push_back({p + "self_attn.q_norm.weight", {c.headDim}, R::Norm});
        out.push_back({p + "self_attn.k_norm.weight", {c.headDim}, R::Norm});
    }
    return out;
}

std::vector<LayoutTensor> checkpointTensors(const ModelConfig &c) {
    using R = LayoutTensor::Role;
    std::vector<LayoutTensor> out = {
        {c.checkpointPrefix + "embed_tokens.weight", {c.vocabSize, c.hiddenSize}, R::Embedding}};
    for (int64_t i = 0; i < c.numLayers; ++i) {
        for (auto &norm : layerNormTensors(c, i))
            out.push_back(std::move(norm));
        for (const auto &module : linearModules(c)) {
            const auto [in, features] = moduleShape(c, module);
            const std::string path = checkpointModulePath(c, i, module);
            out.push_back({path + ".weight", {features, in}, R::Weight});
            if (moduleHasBias(c, module))
                out.push_back({path + ".bias", {features}, R::Bias});
        }
    }
    out.push_back({c.checkpointPrefix + "norm.weight", {c.hiddenSize}, R::Norm});
    if (!c.tieWordEmbeddings)
        out.push_back({c.lmHeadTensor, {c.vocabSize, c.hiddenSize}, R::LmHead});
    return out;
}

std::vector<std::string> unusedTensors(const ModelConfig &c, const std::vector<std::string> &stored) {
    std::set<std::string> read;
    for (const auto &t : checkpointTensors(c))
        read.insert(t.name);
    std::vector<std::string> out;
    for (const auto &name : stored) {
        if (read.count(name))
            continue;
        // bitsandbytes stores W, W.absmax, W.quant_map, ... for a 4-bit weight W.
        const auto weight = name.find(".weight.");
        if (weight != std::string::npos && read.count(name.substr(0, weight + 7)))
            continue;
        // transformers drops a tied model's stored lm_head.weight.
        if (c.tieWordEmbeddings && name == c.lmHeadTensor)
            continue;
        out.push_back(name);
    }
    return out;
}

} // namespace headroom
