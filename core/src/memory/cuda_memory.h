// The CUDA caching allocator's statistics, behind a torch-CUDA-free interface (this file compiles
// in CPU-only builds, where these functions report that the build has no CUDA).
#pragma once

#include "headroom/memory.h"

namespace headroom {

AllocatorStats cudaAllocatorStats(const torch::Device &device);
void resetCudaPeak(const torch::Device &device);
void releaseCudaCache(const torch::Device &device);
int64_t cudaTotalMemory(const torch::Device &device);
int64_t cudaFreeMemory(const torch::Device &device);
// Caps the caching allocator at `bytes` (0: the whole card), so an allocation past it raises the
// same out-of-memory error a smaller card would.
void setCudaMemoryBudget(const torch::Device &device, int64_t bytes);
// The cap set last (above 0), else the card's memory.
int64_t cudaMemoryBudget(const torch::Device &device);

} // namespace headroom
