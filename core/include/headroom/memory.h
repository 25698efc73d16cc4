// Memory accounting: the categories of docs/contracts.md, measured.
//
// On CPU, installMemoryTracking() replaces LibTorch's CPU allocator with a counting, caching one:
// it counts the bytes in use and their peak, keeps freed large blocks for reuse (an eager training
// step otherwise spends more time mapping and unmapping buffers than computing), and can enforce a
// simulated budget (--budget, --gpu PRESET) by raising a real out-of-memory error, so a lab without
// GPUs meets OOM where the card would. On CUDA the caching allocator's own statistics are read.
// Weights, adapters, gradients and optimizer state are measured from the tensors themselves;
// activations are the step's peak minus those four.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

#include "headroom/byte_size.h"
#include "headroom/memory_breakdown.h"

namespace headroom {

struct AllocatorStats {
    int64_t allocated = 0, reserved = 0, peak = 0, budget = 0;
};

// Installs the counting allocator for CPU tensors (idempotent). Call before loading a model.
void installMemoryTracking();
bool memoryTrackingInstalled();
// 0 = no budget. With a budget, an allocation that would take bytes in use past it throws
// c10::OutOfMemoryError (after releasing cached blocks).
void setMemoryBudget(int64_t bytes);
// The same for any device: the CPU's simulated budget, or a cap on CUDA's caching allocator.
void setDeviceMemoryBudget(const torch::Device &device, int64_t bytes);
// The bytes a step may use on `device`: the budget set, else the card's memory (0 on a CPU
// without a budget: unlimited).
int64_t deviceMemoryBudget(const torch::Device &device);
// Whether that budget caps an allocator (the CPU's always; CUDA's caching allocator when a budget
// below the card's memory is set), so memory outside the allocators (MemoryEstimate::
// outsideAllocator: the CUDA context) is not part of it.
bool deviceBudgetCapsAllocator(const torch::Device &device);
AllocatorStats allocatorStats(const torch::Device &device);
void resetPeakMemory(const torch::Device &device);
// Frees the cached blocks (CPU) / empties the CUDA cache.
void releaseCachedMemory(const torch::Device &device);
// Resident set size of this process (CPU baseline for "other").
int64_t processResidentBytes();
// Bytes malloc holds free for reuse (glibc's mallinfo2().fordblks; 0 where unavailable). Small
// tensors freed after the step's peak stay there and in the resident set: they were counted in the
// peak's activations already, so "other" (resident - allocator reserve) leaves them out.
int64_t mallocRetainedBytes();

} // namespace headroom
