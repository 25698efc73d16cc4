#include "memory/estimate/lora_count.h"

#include <algorithm>

#include "headroom/error.h"

namespace headroom {
namespace {

std::string joined(const std::vector<std::string> &names) {
    std::string out;
    for (const auto &n : names)
        out += (out.empty() ? "" : ", ") + n;
    return out;
}

std::vector<std::string> resolveAgainst(const std::vector<std::string> &targets, const std::vector<std::string> &all,
                                        const std::vector<std::string> &allLinear, const std::string &owner,
                                        const std::string &field) {
    if (targets.size() == 1 && targets[0] == "all-linear")
        return allLinear;
    if (targets.empty())
        throw invalidInput(field + ": needs at least one module (or \"all-linear\")");
    std::vector<std::string> out;
    for (const auto &t : targets) {
        if (std::find(all.begin(), all.end(), t) == all.end())
            throw invalidInput(field + ": '" + t + "' is not one of " + owner + joined(all) + ", all-linear");
        if (std::find(out.begin(), out.end(), t) == out.end())
            out.push_back(t);
    }
    return out;
}

// Phi-3 fuses q/k/v into qkv_proj and gate/up into gate_up_proj. A target list written for the
// Llama block (the studio's default q/k/v/o) names the fused module through all of its parts; a
// part alone cannot get an adapter of its own.
std::vector<std::string> fuseTargets(const std::vector<std::string> &targets, const std::string &architecture,
                                     const std::string &field) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> fused = {
        {"qkv_proj", {"q_proj", "k_proj", "v_proj"}}, {"gate_up_proj", {"gate_proj", "up_proj"}}};
    auto listed = [&targets](const std::string &m) {
        return std::find(targets.begin(), targets.end(), m) != targets.end();
    };
    std::vector<std::string> out;
    for (const auto &t : targets) {
        bool part = false;
        for (const auto &[whole, parts] : fused) {
            if (std::find(parts.begin(), parts.end(), t) == parts.end())
                continue;
            part = true;
            if (!std::all_of(parts.begin(), parts.end(), listed))
                throw invalidInput(field + ": '" + t + "' is part of " + architecture + "'s fused " + whole +
                                   "; target " + whole + " (or all of " + joined(parts) + ")");
            if (std::find(out.begin(), out.end(), whole) == out.end())
                out.push_back(whole);
        }
        if (!part)
            out.push_back(t);
    }
    return out;
}

} // namespace

std::vector<std::string> resolveTargetModules(const std::vector<std::string> &targets, const std::string &field) {
    // "all-linear" stays as it is: which modules it means depends on the model.
    return resolveAgainst(targets, knownLinearModules(), targets, "", field);
}

std::vector<std::string> resolveTargetModules(const ModelConfig &config, const std::vector<std::string> &targets,
                                              const std::string &field) {
    const auto &modules = linearModules(config);
    const auto named = config.fusedProjections ? fuseTargets(targets, config.architecture, field) : targets;
    auto resolved = resolveAgainst(named, modules, modules, config.architecture + "'s modules ", field);
    // In the block's order, as PEFT lists the modules it found.
    std::vector<std::string> ordered;
    for (const auto &m : modules)
        if (std::find(resolved.begin(), resolved.end(), m) != resolved.end())
            ordered.push_back(m);
    return ordered;
}

int64_t loraParameterCount(const ModelConfig &config, int64_t r, const std::vector<std::string> &targets) {
    int64_t perLayer = 0;
    for (const auto &m : resolveTargetModules(config, targets, "lora.target_modules")) {
        const auto [in, out] = moduleShape(config, m);
        perLayer += r * (in + out);
    }
    return perLayer * config.numLayers;
}

} // namespace headroom
