#include "headroom/gpu_presets.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "memory/estimate/memory_estimate_internal.h"
#include "headroom/byte_size.h"
#include "headroom/error.h"

namespace headroom {

namespace {

std::vector<GpuPreset> loadPresets() {
    std::vector<GpuPreset> presets;
    // Embedded at build time from resources/gpu-presets.json (core/CMakeLists.txt).
    for (const auto &p : nlohmann::json::parse(detail::embeddedGpuPresets())) {
        GpuPreset preset;
        preset.name = p.at("name").get<std::string>();
        preset.label = p.at("label").get<std::string>();
        preset.memoryBytes = p.at("memory_bytes").get<int64_t>();
        preset.bf16 = p.at("bf16").get<bool>();
        preset.cudaCapability = int(p.value("compute_capability", 0.0) * 10 + 0.5);
        presets.push_back(preset);
    }
    GpuPreset cpu;
    cpu.name = "cpu";
    cpu.label = "this machine's RAM";
    cpu.memoryBytes = int64_t(sysconf(_SC_PHYS_PAGES)) * int64_t(sysconf(_SC_PAGESIZE));
    presets.push_back(cpu);
    return presets;
}

} // namespace

const std::vector<GpuPreset> &gpuPresets() {
    static const std::vector<GpuPreset> presets = loadPresets();
    return presets;
}

const GpuPreset *findGpuPreset(const std::string &name) {
    for (const auto &p : gpuPresets())
        if (p.name == name)
            return &p;
    return nullptr;
}

std::string gpuPresetNameList() {
    std::string list;
    for (const auto &p : gpuPresets())
        list += (list.empty() ? "" : ", ") + p.name;
    return list;
}

int64_t parseMemoryBudget(const std::string &text, const std::string &field) {
    if (text.empty())
        return 0;
    if (const GpuPreset *preset = findGpuPreset(text))
        return preset->memoryBytes;
    try {
        return parseByteSize(text, field);
    } catch (const Error &) {
        throw invalidInput(field + ": '" + text + "' is neither a GPU preset (" + gpuPresetNameList() +
                           ") nor a size such as 6GiB");
    }
}

} // namespace headroom
