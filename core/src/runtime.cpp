#include "headroom/runtime.h"

#include <malloc.h>

#include <cstdlib>
#include <thread>

#include "headroom/error.h"

#ifdef HEADROOM_WITH_CUDA
#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#endif

namespace headroom {

int initRuntime(const RuntimeSettings &settings) {
    // glibc serves blocks over its (dynamic) mmap threshold with fresh mappings and unmaps them on
    // free, so every step re-faults its activations. Pin the threshold at glibc's maximum (32 MiB on
    // 64-bit) and never trim the heap (larger blocks still come from mmap).
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    int threads = settings.threads;
    if (threads <= 0) {
        const char *omp = std::getenv("OMP_NUM_THREADS");
        threads = omp ? std::atoi(omp) : 0;
    }
    if (threads <= 0)
        threads = int(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
    return threads;
}

torch::Device resolveDevice(const std::string &name) {
    if (name == "auto")
        return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    if (name == "cpu")
        return torch::kCPU;
    if (name.rfind("cuda", 0) == 0) {
        if (!torch::cuda::is_available())
            throw invalidInput("--device " + name +
                               ": this build of LibTorch has no CUDA or no GPU is visible (use cpu or auto)");
        int index = 0;
        if (name.size() > 4) {
            if (name[4] != ':' || name.size() == 5 || name.find_first_not_of("0123456789", 5) != std::string::npos)
                throw invalidInput("--device " + name + ": expected auto, cpu, cuda or cuda:N");
            index = std::stoi(name.substr(5));
        }
        if (index >= int(torch::cuda::device_count()))
            throw invalidInput("--device " + name + ": only " + std::to_string(torch::cuda::device_count()) +
                               " CUDA device(s)");
        return torch::Device(torch::kCUDA, index);
    }
    throw invalidInput("--device " + name + ": expected auto, cpu, cuda or cuda:N");
}

int cudaComputeCapability(const torch::Device &device) {
#ifdef HEADROOM_WITH_CUDA
    if (!device.is_cuda())
        return 0;
    // Asked per layer of every forward (fused attention): read once per device.
    static std::mutex mutex;
    static std::map<int, int> known;
    const int index = device.has_index() ? device.index() : 0;
    std::lock_guard<std::mutex> lock(mutex);
    auto found = known.find(index);
    if (found == known.end()) {
        cudaDeviceProp props;
        const int capability =
            cudaGetDeviceProperties(&props, index) == cudaSuccess ? props.major * 10 + props.minor : 0;
        found = known.emplace(index, capability).first;
    }
    return found->second;
#else
    (void)device;
    return 0;
#endif
}

} // namespace headroom
