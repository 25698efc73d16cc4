#include "headroom/distributed.h"
#include "headroom/memory.h"
#include "headroom/runtime.h"

#include "machine_gpus.h"

const MachineGpus &machineGpus() {
    static const MachineGpus gpus = [] {
        MachineGpus found;
        found.count = headroom::cudaDeviceCount();
        found.multiGpu = headroom::processGroupSupported(true);
        if (found.count > 0) {
            const torch::Device first(torch::kCUDA, 0);
            found.memoryBytes = headroom::deviceMemoryBudget(first);
            found.cudaCapability = headroom::cudaComputeCapability(first);
        }
        return found;
    }();
    return gpus;
}
