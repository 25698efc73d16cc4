#include "cli_context.h"

#include "headroom/byte_size.h"
#include "headroom/error.h"
#include "headroom/gpu_presets.h"
#include "headroom/runtime.h"

namespace headroom::cli {

torch::Device CliContext::startRuntime() const {
    initRuntime({threads});
    return resolveDevice(device);
}

TrainConfig loadTrainConfig(const std::string &path, const std::vector<std::string> &overrides, const CliContext &ctx) {
    auto config = TrainConfig::fromFile(path);
    for (const auto &assignment : overrides)
        config.applyOverride(assignment);
    if (ctx.device != "auto")
        config.device = ctx.device;
    if (ctx.threads > 0)
        config.threads = ctx.threads;
    return config;
}

int64_t parseBudgetFlags(const std::string &budget, const std::string &gpu) {
    if (!gpu.empty())
        return parseMemoryBudget(gpu, "--gpu");
    return budget.empty() ? 0 : parseByteSize(budget, "--budget");
}

std::vector<std::string> splitList(const std::string &text, const std::string &separators) {
    std::vector<std::string> items;
    std::string item;
    for (const char c : text + separators.front()) {
        if (separators.find(c) == std::string::npos) {
            item += c;
        } else if (!item.empty()) {
            items.push_back(item);
            item.clear();
        }
    }
    return items;
}

std::vector<int64_t> parseIdList(const std::string &text, const std::string &flag) {
    std::vector<int64_t> ids;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
        size_t used = 0;
        try {
            ids.push_back(std::stoll(item, &used));
        } catch (const std::exception &) {
            used = 0;
        }
        if (used == 0 || used != item.size())
            throw invalidInput(flag + ": '" + item +
                               "' is not an integer (expected a comma-separated list like 1,2,3)");
    }
    if (ids.empty())
        throw invalidInput(flag + ": expected a comma-separated list of token ids like 1,2,3");
    return ids;
}

} // namespace headroom::cli
