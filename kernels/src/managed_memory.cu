// Paged optimizer states: unified memory the driver may move to the host under memory pressure and
// that a prefetch brings back to the device before each step (bitsandbytes' paged optimizers).
// CUDA 13 takes a cudaMemLocation where CUDA 12 took a device number.
#include "headroom_kernels.h"

namespace {

#if CUDART_VERSION >= 13000
cudaMemLocation deviceLocation(int device) {
    cudaMemLocation location{};
    location.type = cudaMemLocationTypeDevice;
    location.id = device;
    return location;
}
#endif

cudaError_t advisePreferredDevice(void *ptr, size_t bytes, int device) {
#if CUDART_VERSION >= 13000
    return cudaMemAdvise(ptr, bytes, cudaMemAdviseSetPreferredLocation, deviceLocation(device));
#else
    return cudaMemAdvise(ptr, bytes, cudaMemAdviseSetPreferredLocation, device);
#endif
}

} // namespace

extern "C" cudaError_t hr_managed_alloc(size_t bytes, void **ptr) {
    if (ptr == nullptr || bytes == 0)
        return cudaErrorInvalidValue;
    *ptr = nullptr;
    size_t freeBytes = 0, totalBytes = 0;
    if (cudaError_t e = cudaMemGetInfo(&freeBytes, &totalBytes); e != cudaSuccess)
        return e;
    if (bytes > freeBytes)
        return cudaErrorMemoryAllocation;
    int device = 0;
    if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess)
        return e;
    void *memory = nullptr;
    if (cudaError_t e = cudaMallocManaged(&memory, bytes, cudaMemAttachGlobal); e != cudaSuccess)
        return e;
    // Where the device cannot page managed memory (e.g. some Windows/WSL set-ups) the advice is
    // unsupported; the memory still works, so that error is not fatal.
    if (cudaError_t e = advisePreferredDevice(memory, bytes, device);
        e != cudaSuccess && e != cudaErrorInvalidDevice && e != cudaErrorNotSupported) {
        cudaFree(memory);
        return e;
    }
    cudaGetLastError(); // clear a tolerated advice error
    *ptr = memory;
    return cudaSuccess;
}

extern "C" cudaError_t hr_managed_prefetch(const void *ptr, size_t bytes, int device, cudaStream_t stream) {
    if (ptr == nullptr || bytes == 0)
        return cudaErrorInvalidValue;
    int concurrent = 0;
    if (cudaError_t e = cudaDeviceGetAttribute(&concurrent, cudaDevAttrConcurrentManagedAccess, device);
        e != cudaSuccess)
        return e;
    if (!concurrent)
        return cudaSuccess;
#if CUDART_VERSION >= 13000
    return cudaMemPrefetchAsync(ptr, bytes, deviceLocation(device), 0, stream);
#else
    return cudaMemPrefetchAsync(ptr, bytes, device, stream);
#endif
}

extern "C" cudaError_t hr_managed_free(void *ptr) { return ptr == nullptr ? cudaSuccess : cudaFree(ptr); }
