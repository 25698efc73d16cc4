#include "memory/estimate/lora_count.h"

#include <algorithm>

#include "headroom/error.h"

namespace headroom {

const std::vector<std::string> &allLinearModules() {
    static const std::vector<std::string> modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                     "gate_proj", "up_proj", "down_proj"};
    return modules;
}

std::vector<std::string> resolveTargetModules(const std::vector<std::string> &targets, const std::string &field) {
    if (targets.size() == 1 && targets[0] == "all-linear")
        return allLinearModules();
    if (targets.empty())
        throw invalidInput(field + ": needs at least one module (or \"all-linear\")");
    const auto &all = allLinearModules();
    std::vector<std::string> out;
    for (const auto &t : targets) {
        if (std::find(all.begin(), all.end(), t) == all.end())
            throw invalidInput(field + ": '" + t +
                               "' is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, "
                               "up_proj, down_proj, all-linear");
        if (std::find(out.begin(), out.end(), t) == out.end())
            out.push_back(t);
    }
    return out;
}

std::string modulePath(int64_t layer, const std::string &module) {
    const bool attention = module == "q_proj" || module == "k_proj" || module == "v_proj" || module == "o_proj";
    return "model.layers." + std::to_string(layer) + (attention ? ".self_attn." : ".mlp.") + module;
}

std::pair<int64_t, int64_t> moduleShape(const ModelConfig &c, const std::string &module) {
    const int64_t qOut = c.numHeads * c.headDim, kvOut = c.numKvHeads * c.headDim;
    if (module == "q_proj")
        return {c.hiddenSize, qOut};
    if (module == "k_proj" || module == "v_proj")
        return {c.hiddenSize, kvOut};
    if (module == "o_proj")
        return {qOut, c.hiddenSize};
    if (module == "gate_proj" || module == "up_proj")
        return {c.hiddenSize, c.intermediateSize};
    if (module == "down_proj")
        return {c.intermediateSize, c.hiddenSize};
    throw invalidInput("unknown module '" + module + "'");
}

int64_t loraParameterCount(const ModelConfig &config, int64_t r, const std::vector<std::string> &targets) {
    int64_t perLayer = 0;
    for (const auto &m : resolveTargetModules(targets, "lora.target_modules")) {
        const auto [in, out] = moduleShape(config, m);
        perLayer += r * (in + out);
    }
    return perLayer * config.numLayers;
}

} // namespace headroom
