#include "headroom/memory_timeline.h"

#include <atomic>

#include "headroom/error.h"
#include "headroom/memory.h"

namespace headroom {

namespace {
std::atomic<MemoryTimelineRecording *> g_recording{nullptr};
} // namespace

nlohmann::json MemoryTimelinePoint::toJson() const {
    return {{"event", event}, {"allocated", allocated}, {"peak", peak}};
}

MemoryTimelineRecording::MemoryTimelineRecording(const torch::Device &device) : m_device(device) {
    MemoryTimelineRecording *none = nullptr;
    if (!g_recording.compare_exchange_strong(none, this))
        throw runtimeFailure("a memory timeline is already being recorded in this process");
    mark("step start");
}

MemoryTimelineRecording::~MemoryTimelineRecording() { g_recording.store(nullptr); }

std::vector<MemoryTimelinePoint> MemoryTimelineRecording::points() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_points;
}

void MemoryTimelineRecording::mark(const std::string &event) {
    const auto stats = allocatorStats(m_device);
    std::lock_guard<std::mutex> lock(m_mutex);
    m_points.push_back({event, stats.allocated, stats.peak});
}

bool memoryTimelineActive() { return g_recording.load() != nullptr; }

void markMemory(const std::string &event) {
    if (auto *recording = g_recording.load())
        recording->mark(event);
}

TimelinePeak timelinePeak(const std::vector<MemoryTimelinePoint> &points) {
    if (points.empty())
        return {};
    const int64_t peak = points.back().peak;
    size_t i = 0;
    while (i + 1 < points.size() && points[i].peak < peak)
        ++i;
    return {i > 0 ? points[i - 1].event : "", points[i].event};
}

} // namespace headroom
