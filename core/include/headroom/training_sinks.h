// Ready-made TrainingObservers: a console progress display and the metrics.jsonl writer, plus a
// fan-out that forwards every event to several observers.
#pragma once

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "headroom/training_events.h"

namespace headroom {

// Progress bar (steps, loss, tokens/s, ETA) redrawn in place on a terminal; plain lines every
// logging_steps otherwise. Warnings and evaluations always get a line of their own.
class ConsoleProgressSink : public TrainingObserver {
public:
    ConsoleProgressSink(std::FILE *stream, int64_t loggingSteps);
    void onRunStart(const RunStartEvent &event) override;
    void onStep(const StepEvent &event) override;
    void onEval(const EvalEvent &event) override;
    void onCheckpoint(int64_t step, const std::string &path) override;
    void onWarning(const std::string &message) override;
    void onOutOfMemory(const OutOfMemoryEvent &event) override;
    void onFinish(const FinishEvent &event) override;
    void onError(const std::string &message) override;

private:
    void endBar();
    std::FILE *m_stream;
    int64_t m_loggingSteps;
    bool m_terminal;
    bool m_barShown = false;
};

// OUTPUT_DIR/metrics.jsonl: one line per optimizer step and per evaluation, appended and flushed
// as it happens (docs/contracts.md). A resumed run appends; lines past the resume step are dropped
// first so the file reads as one uninterrupted run.
class JsonlMetricsSink : public TrainingObserver {
public:
    explicit JsonlMetricsSink(std::string path);
    void onRunStart(const RunStartEvent &event) override;
    void onStep(const StepEvent &event) override;
    void onEval(const EvalEvent &event) override;

private:
    void append(const nlohmann::json &line);
    std::string m_path;
    std::ofstream m_out;
};

class ObserverFanout : public TrainingObserver {
public:
    void add(TrainingObserver *observer) { m_observers.push_back(observer); }
    void onRunStart(const RunStartEvent &e) override {
        for (auto *o : m_observers)
            o->onRunStart(e);
    }
    void onStep(const StepEvent &e) override {
        for (auto *o : m_observers)
            o->onStep(e);
    }
    void onEval(const EvalEvent &e) override {
        for (auto *o : m_observers)
            o->onEval(e);
    }
    void onCheckpoint(int64_t s, const std::string &p) override {
        for (auto *o : m_observers)
            o->onCheckpoint(s, p);
    }
    void onWarning(const std::string &m) override {
        for (auto *o : m_observers)
            o->onWarning(m);
    }
    void onOutOfMemory(const OutOfMemoryEvent &e) override {
        for (auto *o : m_observers)
            o->onOutOfMemory(e);
    }
    void onFinish(const FinishEvent &e) override {
        for (auto *o : m_observers)
            o->onFinish(e);
    }
    void onError(const std::string &m) override {
        for (auto *o : m_observers)
            o->onError(m);
    }

private:
    std::vector<TrainingObserver *> m_observers;
};

} // namespace headroom
