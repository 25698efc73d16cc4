#include "headroom/training_sinks.h"

#include <unistd.h>

#include <cmath>
#include <sstream>

#include "headroom/byte_size.h"
#include "headroom/error.h"

namespace headroom {

namespace {

std::string duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0)
        return "--:--";
    const int64_t s = int64_t(seconds + 0.5);
    char buffer[32];
    if (s >= 3600)
        std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                      (long long)(s % 60));
    else
        std::snprintf(buffer, sizeof buffer, "%02lld:%02lld", (long long)(s / 60), (long long)(s % 60));
    return buffer;
}

} // namespace

ConsoleProgressSink::ConsoleProgressSink(std::FILE *stream, int64_t loggingSteps)
    : m_stream(stream), m_loggingSteps(std::max<int64_t>(1, loggingSteps)), m_terminal(isatty(fileno(stream))) {}

void ConsoleProgressSink::endBar() {
    if (m_barShown) {
        std::fputc('\n', m_stream);
        m_barShown = false;
    }
}

void ConsoleProgressSink::onRunStart(const RunStartEvent &e) {
    std::fprintf(m_stream,
                 "training %lld steps%s on %s, %s, optimizer %s; %lld train / %lld validation examples; effective "
                 "batch %lld; %lld trainable of %lld parameters (%.3f%%)\n",
                 (long long)e.totalSteps,
                 e.startStep > 0 ? (" (resuming at step " + std::to_string(e.startStep) + ")").c_str() : "",
                 e.device.c_str(), e.precision.c_str(), e.optimizer.c_str(), (long long)e.trainExamples,
                 (long long)e.validationExamples, (long long)e.effectiveBatch, (long long)e.trainableParameters,
                 (long long)e.totalParameters,
                 e.totalParameters ? 100.0 * double(e.trainableParameters) / double(e.totalParameters) : 0.0);
    std::fflush(m_stream);
}

void ConsoleProgressSink::onStep(const StepEvent &e) {
    if (m_terminal) {
        constexpr int kWidth = 24;
        const int filled = e.totalSteps ? int(kWidth * e.step / e.totalSteps) : 0;
        std::fprintf(m_stream, "\r[%s%s] %lld/%lld loss %.4f  %.0f tok/s  peak %s  ETA %s%s   ",
                     std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(), (long long)e.step,
                     (long long)e.totalSteps, e.loss, e.tokensPerSecond, formatBytes(e.memory.peak).c_str(),
                     duration(e.etaSeconds).c_str(), e.skipped ? " (skipped: inf/NaN)" : "");
        m_barShown = true;
    } else if (e.step % m_loggingSteps == 0 || e.step == e.totalSteps || e.step == 1) {
        std::fprintf(m_stream, "step %lld/%lld  loss %.4f  lr %.3g  grad_norm %.3f  %.0f tok/s  peak %s  ETA %s%s\n",
                     (long long)e.step, (long long)e.totalSteps, e.loss, e.learningRate, e.gradNorm, e.tokensPerSecond,
                     formatBytes(e.memory.peak).c_str(), duration(e.etaSeconds).c_str(),
                     e.skipped ? "  (skipped: inf/NaN gradients)" : "");
    }
    if (!e.timeline.empty()) {
        endBar();
        const auto peak = timelinePeak(e.timeline);
        const std::string after = peak.after.empty() ? "step start" : peak.after;
        std::fprintf(m_stream,
                     "memory timeline of step %lld (%zu points) in memory_timeline.json: peak %s between "
                     "\"%s\" and \"%s\"\n",
                     (long long)e.step, e.timeline.size(), formatBytes(e.memory.peak).c_str(), after.c_str(),
                     peak.reachedBy.c_str());
    }
    std::fflush(m_stream);
}

void ConsoleProgressSink::onEval(const EvalEvent &e) {
    endBar();
    std::fprintf(m_stream, "eval at step %lld: loss %.4f\n", (long long)e.step, e.evalLoss);
    std::fflush(m_stream);
}

void ConsoleProgressSink::onCheckpoint(int64_t step, const std::string &path) {
    if (m_terminal)
        return; // the bar stays tidy; the folder is listed at the end
    std::fprintf(m_stream, "checkpoint at step %lld: %s\n", (long long)step, path.c_str());
}

void ConsoleProgressSink::onWarning(const std::string &message) {
    endBar();
    std::fprintf(m_stream, "warning: %s\n", message.c_str());
    std::fflush(m_stream);
}

void ConsoleProgressSink::onOutOfMemory(const OutOfMemoryEvent &e) {
    if (!e.applied)
        return; // the run ends with this as its error
    endBar();
    std::fprintf(m_stream, "out of memory %s\n", e.describe().c_str());
    std::fflush(m_stream);
}

void ConsoleProgressSink::onFinish(const FinishEvent &e) {
    endBar();
    std::fprintf(m_stream, "%s after %lld steps: final loss %.4f, %.0f tokens/s, peak %s; adapter in %s\n",
                 e.stopped ? "stopped" : "finished", (long long)e.steps, e.finalLoss, e.tokensPerSecond,
                 formatBytes(e.peakBytes).c_str(), e.adapterDir.c_str());
    std::fflush(m_stream);
}

void ConsoleProgressSink::onError(const std::string &message) { endBar(); }

JsonlMetricsSink::JsonlMetricsSink(std::string path) : m_path(std::move(path)) {}

void JsonlMetricsSink::onRunStart(const RunStartEvent &e) {
    // Keep the lines of steps before the resume point; drop anything after it.
    std::vector<std::string> kept;
    {
        std::ifstream in(m_path);
        std::string line;
        while (std::getline(in, line)) {
            try {
                const auto json = nlohmann::json::parse(line);
                if (json.value("step", int64_t(0)) <= e.startStep)
                    kept.push_back(line);
            } catch (const nlohmann::json::exception &) {
                // a line cut short by a crash: dropped
            }
        }
    }
    m_out.open(m_path, std::ios::trunc);
    if (!m_out)
        throw runtimeFailure(m_path + ": cannot write metrics");
    for (const auto &line : kept)
        m_out << line << "\n";
    m_out.flush();
}

void JsonlMetricsSink::append(const nlohmann::json &line) {
    m_out << line.dump() << "\n";
    m_out.flush();
}

void JsonlMetricsSink::onStep(const StepEvent &e) { append(e.toJson()); }
void JsonlMetricsSink::onEval(const EvalEvent &e) { append(e.toJson()); }

} // namespace headroom
