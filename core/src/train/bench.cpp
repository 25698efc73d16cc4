#include "headroom/bench.h"

#include <filesystem>
#include <cstdio>
#include <random>

#include <unistd.h>

#include "headroom/causal_lm.h"
#include "headroom/dataset.h"
#include "headroom/error.h"
#include "headroom/runtime.h"
#include "headroom/trainer.h"
#include "io/file_tree.h"

namespace headroom {

namespace fs = std::filesystem;

nlohmann::json BenchRow::toJson() const {
    nlohmann::json json = {{"settings", settings},
                           {"tokens_per_s", tokensPerSecond},
                           {"step_s", stepSeconds},
                           {"peak_bytes", peakBytes},
                           {"bytes", bytes.toJson()}};
    if (!error.empty())
        json["error"] = error;
    if (profile)
        json["profile"] = profile->summaryJson();
    return json;
}

namespace {

// Collects the steps' events; with a profiler, profiles the steps after the first `warmup`.
class StepCollector : public TrainingObserver {
public:
    StepCollector(StepProfiler *profiler, int warmup, int steps, std::string tracePath)
        : m_profiler(profiler), m_warmup(size_t(warmup)), m_last(size_t(warmup + steps)),
          m_tracePath(std::move(tracePath)) {}
    std::vector<StepEvent> steps;
    std::optional<StepProfile> profile;
    void onStep(const StepEvent &e) override {
        steps.push_back(e);
        if (!m_profiler)
            return;
        if (steps.size() == m_warmup)
            m_profiler->start();
        else if (steps.size() == m_last)
            profile = m_profiler->stop(int(m_last - m_warmup), m_tracePath);
    }

private:
    StepProfiler *m_profiler;
    size_t m_warmup, m_last;
    std::string m_tracePath;
};

} // namespace

std::vector<TokenizedExample> randomTokenRows(int64_t count, int64_t length, int64_t vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> token(0, int32_t(vocab - 1));
    std::vector<TokenizedExample> rows(static_cast<size_t>(count));
    for (auto &row : rows) {
        row.ids.resize(size_t(length));
        for (auto &id : row.ids)
            id = token(rng);
        row.labels = row.ids;
        row.labels[0] = kIgnoreLabel;
    }
    return rows;
}

void checkBenchSteps(int steps, int warmupSteps, bool profile) {
    if (steps < 1 || warmupSteps < 0)
        throw invalidInput("bench: --steps must be at least 1 and --warmup at least 0");
    if (profile && warmupSteps < 1)
        throw invalidInput("bench: --profile needs --warmup of at least 1 (the first step's one-time work would "
                           "fill the profile)");
}

BenchRow benchTraining(const TrainConfig &base, int64_t seqLength, int steps, int warmupSteps,
                       const nlohmann::json &settings, const std::string &profilePath) {
    checkBenchSteps(steps, warmupSteps, !profilePath.empty());
    TrainConfig config = base;
    config.dataset.maxSeqLength = seqLength;
    config.dataset.validationSplit = 0;
    config.dataset.packing = false;
    auto &t = config.training;
    t.maxSteps = steps + warmupSteps;
    t.saveStrategy = "no";
    t.warmupRatio = 0;
    t.warmupSteps = 0;
    t.evalSteps = 0;
    const auto model = ModelConfig::fromFile((fs::path(config.model) / "config.json").string());
    const fs::path scratch = fs::temp_directory_path() / ("headroom-bench-" + std::to_string(::getpid()));
    t.outputDir = scratch.string();
    config.validate("bench");

    const int64_t rows = t.perDeviceTrainBatchSize * t.gradientAccumulationSteps * t.maxSteps;
    auto data = TrainingDataset::fromExamples(randomTokenRows(rows, seqLength, model.vocabSize, uint64_t(t.seed)), {});
    BenchRow row;
    row.settings = settings;
    std::optional<StepProfiler> profiler;
    const std::string tracePath = profilePath.empty() ? std::string() : profilePath + ".trace.json";
    if (!profilePath.empty()) {
        profiler.emplace(resolveDevice(config.device).is_cuda());
        // An earlier run's files must not pass for this one's when this one writes none (out of memory).
        std::remove(profilePath.c_str());
        std::remove(tracePath.c_str());
    }
    StepCollector collector(profiler ? &*profiler : nullptr, warmupSteps, steps, tracePath);
    std::error_code ec;
    try {
        runTrainingOn(config, std::move(data), collector, nullptr);
    } catch (const TrainingOutOfMemory &e) {
        const std::string &message = e.event().message;
        row.error = message.rfind("out of memory", 0) == 0 ? message : "out of memory: " + message;
    } catch (...) {
        detail::removeTree(scratch, ec);
        throw;
    }
    detail::removeTree(scratch, ec);
    if (!row.error.empty())
        return row;
    double seconds = 0;
    int64_t tokens = 0;
    for (size_t i = size_t(warmupSteps); i < collector.steps.size(); ++i) {
        const auto &e = collector.steps[i];
        seconds += e.tokensPerSecond > 0 ? double(e.tokens) / e.tokensPerSecond : 0;
        tokens += e.tokens;
        row.peakBytes = std::max(row.peakBytes, e.memory.peak);
    }
    row.stepSeconds = seconds / double(steps);
    row.tokensPerSecond = seconds > 0 ? double(tokens) / seconds : 0;
    row.bytes = collector.steps.back().memory;
    if (collector.profile) {
        writeStepProfile(*collector.profile, profilePath);
        row.profile = std::move(collector.profile);
    }
    return row;
}

} // namespace headroom
