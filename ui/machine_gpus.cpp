#include "headroom/distributed.h"
#include "headroom/memory.h"

#include "machine_gpus.h"

const MachineGpus &machineGpus()
{
    static const MachineGpus gpus = [] {
        MachineGpus found;
        found.count = headroom::cudaDeviceCount();
        found.multiGpu = headroom::processGroupSupported(true);
        if (found.count > 0)
            found.memoryBytes = headroom::deviceMemoryBudget(torch::Device(torch::kCUDA, 0));
        return found;
    }();
    return gpus;
}
