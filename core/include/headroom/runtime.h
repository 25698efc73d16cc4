// Process-wide set-up that every front end performs once at start, before any tensor work:
// LibTorch's intra-op thread count (a setting; 0 = all cores, or OMP_NUM_THREADS when set) and the
// C allocator's thresholds (freed large blocks are kept for reuse instead of being unmapped: an eager
// training step spends more time in mmap/munmap than in kernels otherwise, see docs/performance.md).
#pragma once

#include <string>

#include <torch/torch.h>

namespace headroom {

struct RuntimeSettings {
    int threads = 0; // 0 = OMP_NUM_THREADS if set, else all cores
};

// Returns the number of threads in effect.
int initRuntime(const RuntimeSettings &settings = {});

// "auto" (first CUDA device when this LibTorch has CUDA and one is present, else cpu), "cpu",
// "cuda", "cuda:N". Throws invalidInput for anything else or for CUDA without a device.
torch::Device resolveDevice(const std::string &name);

// A CUDA device's compute capability as major * 10 + minor (90 for an H100); 0 for the CPU, a build
// without CUDA, or when the driver does not say.
int cudaComputeCapability(const torch::Device &device);

} // namespace headroom
