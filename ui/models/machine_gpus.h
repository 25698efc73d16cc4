// The CUDA devices of this machine, as the Configure page offers them ("GPUs: N" and the budget
// "this machine's GPU"): asked of LibTorch in machine_gpus.cpp so this header stays free of it.
#pragma once

#include <cstdint>
#include <string>

struct MachineGpus {
    int count = 0; // CUDA devices visible to this process; 0 on a CPU-only build
    bool multiGpu = false; // this build can train on several (NCCL: processGroupSupported(true))
    int64_t memoryBytes = 0; // the first device's memory (0 when count is 0)
    int cudaCapability = 0; // the first device's compute capability x 10 (90 = 9.0); 0 when none
};

// Asked once: the answer does not change while the studio runs.
const MachineGpus &machineGpus();
