// Memory budgets to plan against: the GPU presets bundled from resources/gpu-presets.json (embedded
// into the binary at build time) and "cpu", this machine's physical RAM.
//
//   const GpuPreset *t4 = findGpuPreset("t4");           // nullptr when unknown
//   if (estimate.total() > t4->memoryBytes) ...
//   std::string names = gpuPresetNameList();             // "t4, a10, ..., cpu" for error messages
//
// memoryBytes of a GPU is what nvidia-smi reports as total (resources/README.md), i.e. what a
// process can see; "cpu" reads sysconf(_SC_PHYS_PAGES) once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace headroom {

struct GpuPreset {
    std::string name; // "t4", ..., "cpu"
    std::string label; // "NVIDIA Tesla T4 16 GB"
    int64_t memoryBytes = 0;
    bool bf16 = true; // computes bfloat16 natively (compute capability >= 8.0)
    int cudaCapability = 0; // compute capability as major * 10 + minor (75 for 7.5); 0 for "cpu"
    bool isCpu() const { return name == "cpu"; }
};

// Every preset, in the file's order, "cpu" last.
const std::vector<GpuPreset> &gpuPresets();
const GpuPreset *findGpuPreset(const std::string &name);
std::string gpuPresetNameList(); // comma-separated names

// A memory budget as the user gives it: a preset name ("t4": its memory) or a size ("6GiB").
// Empty means no budget (0). Throws invalidInput naming `field` and the valid forms.
int64_t parseMemoryBudget(const std::string &text, const std::string &field);

} // namespace headroom
