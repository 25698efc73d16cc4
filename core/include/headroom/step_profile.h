// Where training steps spend their time (`headroom-cli bench --profile`), from LibTorch's profiler:
// time per CPU operator and, on CUDA where LibTorch has Kineto with CUPTI (pip and pytorch.org
// builds), per GPU kernel, with a Chrome trace of the profiled steps for chrome://tracing or Perfetto.
// The kernels' total against the steps' wall time says whether the GPU or the host is the limit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace headroom {

struct ProfiledEvent {
    std::string name;
    int64_t calls = 0;
    double totalMicros = 0;
    double selfMicros = 0; // less the time of the operators it calls (a kernel's is its total)
};

struct StepProfile {
    int steps = 0;
    double wallSeconds = 0; // from the profile's start to its end, the device synchronized
    std::vector<ProfiledEvent> kernels; // GPU kernels and copies by time (none on the CPU or without CUPTI)
    std::vector<ProfiledEvent> operators; // CPU operators by self time
    std::string tracePath; // the Chrome trace; empty where this LibTorch has no Kineto
    double kernelSeconds() const; // the kernels' summed time (streams overlapping counted twice)
    nlohmann::json summaryJson() const; // {"wall_s", "kernel_s", "trace"}
    nlohmann::json toJson() const; // the summary with "steps", "kernels" and "operators"
};

// Profiles from start() to stop(): the operators of the calling thread and of the autograd threads
// it starts (CUDA's backward), and the device's kernels.
// Destroying a running profiler stops it and discards the profile (a step that threw). Constructing
// one throws invalidInput in a build without LibTorch's profiler (HEADROOM_TORCH_PROFILER=OFF).
class StepProfiler {
public:
    explicit StepProfiler(bool cuda);
    ~StepProfiler();
    StepProfiler(const StepProfiler &) = delete;
    StepProfiler &operator=(const StepProfiler &) = delete;

    void start();
    // Ends the profile of `steps` steps; writes the Chrome trace to `tracePath` when not empty.
    StepProfile stop(int steps, const std::string &tracePath);

private:
    bool m_cuda;
    bool m_running = false;
    double m_startSeconds = 0;
};

// Writes the profile's JSON (toJson) whole or not at all; throws runtimeFailure naming the file.
void writeStepProfile(const StepProfile &profile, const std::string &path);

} // namespace headroom
