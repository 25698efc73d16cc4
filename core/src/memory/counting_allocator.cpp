#include "headroom/memory.h"

#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <cstring>

#include <atomic>
#include <cstdlib>
#include <unordered_map>
#include <mutex>

#include "memory/cuda_memory.h"

namespace headroom {

namespace {

// Blocks of at least this size are cached on free; smaller ones go straight back to malloc,
// whose own free lists serve them well.
constexpr size_t kCacheMinBytes = 1 << 20;
constexpr size_t kCacheGranularity = 1 << 16; // sizes rounded up so near-equal requests share blocks
constexpr size_t kAlignment = 64;

// LibTorch 2.3 made Allocator::allocate non-const and added a pure virtual copy_data.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define HEADROOM_ALLOCATOR_V2 1
#endif

class CountingCpuAllocator final : public c10::Allocator {
public:
#ifdef HEADROOM_ALLOCATOR_V2
    c10::DataPtr allocate(size_t requested) override { return allocateCounted(requested); }
    void copy_data(void *dest, const void *src, size_t count) const override { std::memcpy(dest, src, count); }
#else
    c10::DataPtr allocate(size_t requested) const override { return allocateCounted(requested); }
#endif

    c10::DataPtr allocateCounted(size_t requested) const {
        const size_t bytes = roundedSize(requested);
        void *ptr = takeCached(bytes);
        if (!ptr) {
            ensureBudget(bytes);
            if (posix_memalign(&ptr, kAlignment, std::max<size_t>(bytes, 1)) != 0)
                C10_THROW_ERROR(OutOfMemoryError,
                                "CPU out of memory: failed to allocate " + formatBytes(int64_t(bytes)));
            m_reserved += int64_t(bytes);
        }
        const int64_t now = m_allocated += int64_t(bytes);
        int64_t peak = m_peak.load();
        while (now > peak && !m_peak.compare_exchange_weak(peak, now)) {
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_sizes[ptr] = bytes;
        }
        // The context is the pointer itself (LibTorch's raw_allocate() requires that); sizes live
        // in a side table.
        return {ptr, ptr, &CountingCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
    }

    c10::DeleterFnPtr raw_deleter() const override { return &CountingCpuAllocator::release; }

    AllocatorStats stats() const { return {m_allocated.load(), m_reserved.load(), m_peak.load(), m_budget.load()}; }
    void resetPeak() { m_peak = m_allocated.load(); }
    void setBudget(int64_t bytes) { m_budget = bytes; }

    void releaseCache() const {
        std::lock_guard<std::mutex> lock(m_mutex);
        for (auto &[size, ptr] : m_cache) {
            std::free(ptr);
            m_reserved -= int64_t(size);
        }
        m_cache.clear();
    }

    static CountingCpuAllocator &instance() {
        static CountingCpuAllocator allocator;
        return allocator;
    }

private:
    static size_t roundedSize(size_t n) {
        return n >= kCacheMinBytes ? (n + kCacheGranularity - 1) / kCacheGranularity * kCacheGranularity : n;
    }

    void *takeCached(size_t bytes) const {
        if (bytes < kCacheMinBytes)
            return nullptr;
        std::lock_guard<std::mutex> lock(m_mutex);
        auto it = m_cache.find(bytes);
        if (it == m_cache.end())
            return nullptr;
        void *ptr = it->second;
        m_cache.erase(it);
        return ptr;
    }

    // The budget limits bytes in use; cached blocks are given back first when they are in the way.
    void ensureBudget(size_t bytes) const {
        const int64_t budget = m_budget.load();
        if (budget <= 0)
            return;
        if (m_allocated.load() + int64_t(bytes) > budget)
            C10_THROW_ERROR(OutOfMemoryError, "out of memory: allocating " + formatBytes(int64_t(bytes)) + " with " +
                                                  formatBytes(m_allocated.load()) +
                                                  " in use would exceed the budget of " + formatBytes(budget));
        if (m_reserved.load() + int64_t(bytes) > budget)
            releaseCache();
    }

    static void release(void *ptr) {
        if (!ptr)
            return;
        auto &self = instance();
        std::lock_guard<std::mutex> lock(self.m_mutex);
        auto it = self.m_sizes.find(ptr);
        const size_t bytes = it->second;
        self.m_sizes.erase(it);
        self.m_allocated -= int64_t(bytes);
        if (bytes >= kCacheMinBytes) {
            self.m_cache.emplace(bytes, ptr);
        } else {
            std::free(ptr);
            self.m_reserved -= int64_t(bytes);
        }
    }

    mutable std::mutex m_mutex;
    mutable std::multimap<size_t, void *> m_cache;
    mutable std::unordered_map<void *, size_t> m_sizes;
    mutable std::atomic<int64_t> m_allocated{0}, m_reserved{0}, m_peak{0}, m_budget{0};
};

std::atomic<bool> g_installed{false};

} // namespace

void installMemoryTracking() {
    if (g_installed.exchange(true))
        return;
    c10::SetCPUAllocator(&CountingCpuAllocator::instance(), /*priority=*/100);
}

bool memoryTrackingInstalled() { return g_installed.load(); }

void setMemoryBudget(int64_t bytes) { CountingCpuAllocator::instance().setBudget(bytes); }

void setDeviceMemoryBudget(const torch::Device &device, int64_t bytes) {
    if (device.is_cpu())
        setMemoryBudget(bytes);
    else
        setCudaMemoryBudget(device, bytes);
}

int64_t deviceMemoryBudget(const torch::Device &device) {
    return device.is_cpu() ? CountingCpuAllocator::instance().stats().budget : cudaMemoryBudget(device);
}

bool deviceBudgetCapsAllocator(const torch::Device &device) {
    return device.is_cpu() || cudaMemoryBudget(device) < cudaTotalMemory(device);
}

AllocatorStats allocatorStats(const torch::Device &device) {
    if (device.is_cpu())
        return CountingCpuAllocator::instance().stats();
    return cudaAllocatorStats(device);
}

void resetPeakMemory(const torch::Device &device) {
    if (device.is_cpu())
        CountingCpuAllocator::instance().resetPeak();
    else
        resetCudaPeak(device);
}

void releaseCachedMemory(const torch::Device &device) {
    if (device.is_cpu())
        CountingCpuAllocator::instance().releaseCache();
    else
        releaseCudaCache(device);
}

} // namespace headroom
