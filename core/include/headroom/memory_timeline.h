// The memory timeline of one training step: bytes in use after each layer's forward, as the
// backward pass reaches each layer, after the loss and after the optimizer, so the step's peak and
// its cause are visible (training.memory_timeline_step, the studio's timeline view).
//
//   MemoryTimelineRecording recording(device);   // marks are recorded while it lives
//   ... markMemory("forward layer 3") ...         // from the model and the trainer; a no-op otherwise
//   std::vector<MemoryTimelinePoint> points = recording.points();
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

#include "headroom/memory_breakdown.h"

namespace headroom {

// One recording at a time per process; marks may come from autograd's threads.
class MemoryTimelineRecording {
public:
    explicit MemoryTimelineRecording(const torch::Device &device);
    ~MemoryTimelineRecording();
    MemoryTimelineRecording(const MemoryTimelineRecording &) = delete;
    MemoryTimelineRecording &operator=(const MemoryTimelineRecording &) = delete;
    std::vector<MemoryTimelinePoint> points() const;

private:
    friend void markMemory(const std::string &event);
    void mark(const std::string &event);
    torch::Device m_device;
    mutable std::mutex m_mutex;
    std::vector<MemoryTimelinePoint> m_points;
};

// True while a recording is active (the model registers its backward hooks only then).
bool memoryTimelineActive();
void markMemory(const std::string &event);

} // namespace headroom
