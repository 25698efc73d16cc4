// What memory accounting reports, as plain values without LibTorch: the bytes per category of
// docs/contracts.md ("Memory categories") and the points of one step's memory timeline. Training
// events carry them (training_events.h), so a front end needs no LibTorch header to receive them;
// memory.h and memory_timeline.h measure them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace headroom {

struct MemoryBreakdown {
    int64_t weights = 0, adapters = 0, gradients = 0, optimizer = 0, activations = 0, other = 0;
    int64_t allocated = 0; // bytes in use now
    int64_t reserved = 0; // held by the allocator (in use + cached)
    int64_t peak = 0; // peak bytes in use since the last reset
    int64_t total() const { return weights + adapters + gradients + optimizer + activations + other; }
    nlohmann::json toJson() const;
};

struct MemoryTimelinePoint {
    std::string event; // "forward layer 3", "backward reached layer 3", "loss", "optimizer step"
    int64_t allocated = 0; // bytes in use at that moment
    int64_t peak = 0; // the step's peak so far
    nlohmann::json toJson() const;
};

// Where the step's peak fell: between point `after` (empty when it is the first point) and point
// `reachedBy`, the first point whose running peak equals the step's. Both empty without points.
struct TimelinePeak {
    std::string after, reachedBy;
};
TimelinePeak timelinePeak(const std::vector<MemoryTimelinePoint> &points);

} // namespace headroom
