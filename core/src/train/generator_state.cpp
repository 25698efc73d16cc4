#include "train/generator_state.h"

#include <mutex>
#include <utility>
#include <vector>

#include <ATen/Context.h>

namespace headroom {

namespace {

// The generators a checkpoint keeps, under their keys.
std::vector<std::pair<std::string, torch::Device>> rngDevices(const torch::Device &device) {
    std::vector<std::pair<std::string, torch::Device>> out = {{"rng.cpu", torch::kCPU}};
    if (device.is_cuda())
        out.emplace_back("rng.cuda", device);
    return out;
}

} // namespace

GeneratorStates generatorStates(const torch::Device &device) {
    GeneratorStates states;
    for (const auto &[key, generatorDevice] : rngDevices(device)) {
        auto generator = at::globalContext().defaultGenerator(generatorDevice);
        std::lock_guard<std::mutex> lock(generator.mutex());
        states.emplace(key, generator.get_state());
    }
    return states;
}

void restoreGenerators(const GeneratorStates &states, const torch::Device &device) {
    for (const auto &[key, generatorDevice] : rngDevices(device)) {
        const auto state = states.find(key);
        if (state == states.end())
            continue;
        auto generator = at::globalContext().defaultGenerator(generatorDevice);
        std::lock_guard<std::mutex> lock(generator.mutex());
        generator.set_state(state->second);
    }
}

} // namespace headroom
