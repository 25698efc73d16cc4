#include "memory/cuda_memory.h"

#include "headroom/error.h"

#ifdef HEADROOM_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <set>
#endif

namespace headroom {

#ifdef HEADROOM_WITH_CUDA

namespace {

// LibTorch sets its caching allocator up for a device with the first tensor made there; until then
// its statistics and memory fraction throw ("Allocator not initialized"). A budget is applied, and
// statistics may be read, before the model is loaded.
void ensureAllocator(const torch::Device &device) {
    static std::mutex mutex;
    static std::set<int> ready;
    std::lock_guard<std::mutex> lock(mutex);
    if (ready.insert(device.index()).second)
        (void)torch::empty({0}, torch::TensorOptions().device(device));
}

} // namespace

AllocatorStats cudaAllocatorStats(const torch::Device &device) {
    ensureAllocator(device);
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    // StatType::AGGREGATE is entry 0 (the enum moved to c10::CachingDeviceAllocator in LibTorch 2.x).
    constexpr size_t aggregate = 0;
    AllocatorStats out;
    out.allocated = stats.allocated_bytes[aggregate].current;
    out.peak = stats.allocated_bytes[aggregate].peak;
    out.reserved = stats.reserved_bytes[aggregate].current;
    return out;
}

void resetCudaPeak(const torch::Device &device) {
    ensureAllocator(device);
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
}

void releaseCudaCache(const torch::Device &) { c10::cuda::CUDACachingAllocator::emptyCache(); }

int64_t cudaTotalMemory(const torch::Device &device) {
    size_t freeBytes = 0, totalBytes = 0;
    cudaSetDevice(device.index());
    cudaMemGetInfo(&freeBytes, &totalBytes);
    return int64_t(totalBytes);
}

int64_t cudaFreeMemory(const torch::Device &device) {
    size_t freeBytes = 0, totalBytes = 0;
    cudaSetDevice(device.index());
    cudaMemGetInfo(&freeBytes, &totalBytes);
    return int64_t(freeBytes);
}

namespace {
std::mutex g_budgetsMutex;
std::map<int, int64_t> g_budgets; // the caps set, per device
} // namespace

void setCudaMemoryBudget(const torch::Device &device, int64_t bytes) {
    const int64_t total = cudaTotalMemory(device);
    const double fraction = bytes > 0 && bytes < total ? double(bytes) / double(total) : 1.0;
    ensureAllocator(device);
    c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction, device.index());
    std::lock_guard<std::mutex> lock(g_budgetsMutex);
    g_budgets[device.index()] = bytes;
}

int64_t cudaMemoryBudget(const torch::Device &device) {
    {
        std::lock_guard<std::mutex> lock(g_budgetsMutex);
        const auto set = g_budgets.find(device.index());
        if (set != g_budgets.end() && set->second > 0)
            return set->second;
    }
    return cudaTotalMemory(device);
}

#else

namespace {
[[noreturn]] void noCuda() { throw runtimeFailure("this build of Headroom has no CUDA support"); }
} // namespace

AllocatorStats cudaAllocatorStats(const torch::Device &) { noCuda(); }
void resetCudaPeak(const torch::Device &) { noCuda(); }
void releaseCudaCache(const torch::Device &) { noCuda(); }
int64_t cudaTotalMemory(const torch::Device &) { noCuda(); }
int64_t cudaFreeMemory(const torch::Device &) { noCuda(); }
void setCudaMemoryBudget(const torch::Device &, int64_t) { noCuda(); }
int64_t cudaMemoryBudget(const torch::Device &) { noCuda(); }

#endif

} // namespace headroom
