#include "headroom/step_profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#ifndef HEADROOM_NO_TORCH_PROFILER
#include <torch/csrc/autograd/profiler_kineto.h>
#endif
#include <torch/cuda.h>
#include <torch/torch.h>

#include "headroom/error.h"
#include "io/atomic_file.h"

namespace headroom {

namespace {

#ifndef HEADROOM_NO_TORCH_PROFILER
namespace kineto = torch::autograd::profiler;
namespace impl = torch::profiler::impl;

double nowSeconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Span {
    double start, duration; // microseconds
};

// LibTorch 2.x times an event in nanoseconds (startNs, durationNs), 1.x in microseconds (startUs,
// durationUs); the overload that compiles against the installed headers is chosen (int is a better
// match for the argument 0 than long).
template <typename Event>
auto spanOf(const Event &e, int) -> decltype(e.durationNs(), Span()) {
    return {double(e.startNs()) / 1000.0, double(e.durationNs()) / 1000.0};
}
template <typename Event>
auto spanOf(const Event &e, long) -> decltype(e.durationUs(), Span()) {
    return {double(e.startUs()), double(e.durationUs())};
}

struct CpuSpan {
    uint64_t thread;
    double start, end;
    const std::string *name;
};

// Operators nest (aten::linear calls aten::matmul calls aten::mm): an operator's self time is its
// duration less its direct children's, found per thread with a stack of the spans still open.
std::map<std::string, double> selfMicros(std::vector<CpuSpan> spans) {
    std::stable_sort(spans.begin(), spans.end(), [](const CpuSpan &a, const CpuSpan &b) {
        return a.thread != b.thread ? a.thread < b.thread : a.start != b.start ? a.start < b.start : a.end > b.end;
    });
    std::map<std::string, double> self;
    std::vector<const CpuSpan *> open;
    for (const auto &span : spans) {
        while (!open.empty() && (open.back()->thread != span.thread || open.back()->end <= span.start))
            open.pop_back();
        if (!open.empty())
            self[*open.back()->name] -= span.end - span.start;
        self[*span.name] += span.end - span.start;
        open.push_back(&span);
    }
    return self;
}

std::vector<ProfiledEvent> bySelfTime(const std::map<std::string, ProfiledEvent> &events) {
    std::vector<ProfiledEvent> sorted;
    for (const auto &entry : events)
        sorted.push_back(entry.second);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const ProfiledEvent &a, const ProfiledEvent &b) { return a.selfMicros > b.selfMicros; });
    return sorted;
}
#endif

nlohmann::json eventsJson(const std::vector<ProfiledEvent> &events) {
    auto json = nlohmann::json::array();
    for (const auto &e : events)
        json.push_back({{"name", e.name}, {"calls", e.calls}, {"total_us", e.totalMicros}, {"self_us", e.selfMicros}});
    return json;
}

} // namespace

double StepProfile::kernelSeconds() const {
    double micros = 0;
    for (const auto &k : kernels)
        micros += k.totalMicros;
    return micros / 1e6;
}

nlohmann::json StepProfile::summaryJson() const {
    return {{"wall_s", wallSeconds},
            {"kernel_s", kernelSeconds()},
            {"trace", tracePath.empty() ? nlohmann::json() : nlohmann::json(tracePath)}};
}

nlohmann::json StepProfile::toJson() const {
    auto json = summaryJson();
    json["steps"] = steps;
    json["kernels"] = eventsJson(kernels);
    json["operators"] = eventsJson(operators);
    return json;
}

#ifdef HEADROOM_NO_TORCH_PROFILER
StepProfiler::StepProfiler(bool cuda) : m_cuda(cuda) {
    throw invalidInput("--profile: this Headroom was built without LibTorch's profiler (HEADROOM_TORCH_PROFILER=OFF)");
}
StepProfiler::~StepProfiler() = default;
void StepProfiler::start() {}
StepProfile StepProfiler::stop(int, const std::string &) { return {}; }
#else
StepProfiler::StepProfiler(bool cuda) : m_cuda(cuda) {}

StepProfiler::~StepProfiler() {
    if (m_running) {
        try {
            kineto::disableProfiler();
        } catch (const std::exception &) {
            // Already unwinding from the step's own error, which is the one to report.
        }
    }
}

void StepProfiler::start() {
    const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
    std::set<impl::ActivityType> activities{impl::ActivityType::CPU};
    if (m_cuda)
        activities.insert(impl::ActivityType::CUDA);
    kineto::prepareProfiler(config, activities);
    if (m_cuda)
        torch::cuda::synchronize();
    kineto::enableProfiler(config, activities);
    m_running = true;
    m_startSeconds = nowSeconds();
}

StepProfile StepProfiler::stop(int steps, const std::string &tracePath) {
    if (m_cuda)
        torch::cuda::synchronize();
    StepProfile profile;
    profile.steps = steps;
    profile.wallSeconds = nowSeconds() - m_startSeconds;
    m_running = false;
    const auto result = kineto::disableProfiler();
    std::map<std::string, ProfiledEvent> kernels, operators;
    std::vector<CpuSpan> spans;
    for (const auto &e : result->events()) {
        const bool cpu = e.deviceType() == c10::DeviceType::CPU;
        const Span span = spanOf(e, 0);
        auto &entry = (cpu ? operators : kernels)[e.name()];
        entry.name = e.name();
        entry.calls += 1;
        entry.totalMicros += span.duration;
        if (cpu)
            spans.push_back({e.startThreadId(), span.start, span.start + span.duration, &entry.name});
    }
    for (auto &kernel : kernels)
        kernel.second.selfMicros = kernel.second.totalMicros; // kernels do not nest
    for (const auto &self : selfMicros(spans))
        operators[self.first].selfMicros = self.second;
    profile.kernels = bySelfTime(kernels);
    profile.operators = bySelfTime(operators);
    if (!tracePath.empty()) {
        const std::string partial = tracePath + ".partial";
        try {
            result->save(partial);
            if (std::rename(partial.c_str(), tracePath.c_str()) != 0)
                throw runtimeFailure(tracePath + ": cannot write the profile's trace");
            profile.tracePath = tracePath;
        } catch (const c10::Error &e) {
            std::remove(partial.c_str());
            // Without Kineto (Debian's LibTorch) the summary is all there is; anything else is an error.
            if (std::string(e.what_without_backtrace()).find("Kineto") == std::string::npos)
                throw runtimeFailure(tracePath + ": cannot write the profile's trace: " + e.what_without_backtrace());
        }
    }
    return profile;
}

#endif

void writeStepProfile(const StepProfile &profile, const std::string &path) {
    detail::writeFileAtomically(path, profile.toJson().dump(1) + "\n");
}

} // namespace headroom
